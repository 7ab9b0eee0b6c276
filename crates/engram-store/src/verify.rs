//! A structural check of every B-tree page LMDB could read, before LMDB maps the file.
//!
//! LMDB trusts its pages: a damaged node offset, key size, flag or page number makes it read
//! outside a page, or the file, and fault. So before the first open of a file in a process,
//! this walks the trees from the newest meta page — the free-page tree and the main tree,
//! and through it every named database — reading pages with `pread`, and checks what LMDB
//! relies on: each page's number, kind and bounds; each node inside its page; child and
//! overflow page numbers inside the file; every page reached once. It reads the B-tree pages
//! only (a large value's overflow pages but its first), so its cost is the small tables', not
//! the blocks'.
//!
//! The layout is LMDB's (`mdb.c`, 64-bit build): a 16-byte page header (`mp_pgno` u64,
//! `mp_pad` u16, `mp_flags` u16, then `mp_lower`/`mp_upper` u16 or `mp_pages` u32), node
//! offsets (u16) after it; a node is `mn_lo`, `mn_hi`, `mn_flags`, `mn_ksize` (u16 each),
//! then the key and, in a leaf, the data.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::{Error, Result};

const PAGE_HEADER: usize = 16;
const NODE_HEADER: usize = 8;
/// `sizeof(MDB_db)`: a database record.
const DB_RECORD: usize = 48;
/// Offsets in a meta page: the free-page database record and the main one.
const META_FREE_DB: usize = PAGE_HEADER + 24;
const META_MAIN_DB: usize = META_FREE_DB + DB_RECORD;
/// In a database record: the root page (`md_root`).
const DB_ROOT: usize = 40;
/// `P_INVALID`: an empty tree.
const NO_PAGE: u64 = u64::MAX;

const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const F_DUPDATA: u16 = 0x04;
/// Deeper trees than this cannot exist in a file LMDB can address.
const MAX_DEPTH: usize = 64;

fn damaged(what: String) -> Error {
    Error::Corrupt(what)
}

struct Walker<'a> {
    file: &'a File,
    page_size: usize,
    /// Pages the newest committed transaction uses: 0..pages.
    pages: u64,
    /// The file's length in bytes.
    file_len: u64,
    seen: HashSet<u64>,
    page: Vec<u8>,
}

/// Offsets in a meta page of the last page used and the transaction id.
const META_LAST_PAGE: usize = PAGE_HEADER + 120;
const META_TXN_ID: usize = PAGE_HEADER + 128;

/// Checks the trees of committed transaction `txn_id` in a file of `page_size`-byte pages.
/// The caller holds a read transaction of that id, so LMDB reuses none of its pages while
/// this reads them; but a meta page is rewritten every other commit, so if neither holds
/// `txn_id` any more this returns `Ok(false)` (read again with a newer transaction).
///
/// # Errors
/// [`Error::Corrupt`] naming the first damage found; [`Error::Io`].
pub(crate) fn verify(file: &File, page_size: u64, txn_id: u64) -> Result<bool> {
    let page_size = usize::try_from(page_size).map_err(|_| damaged("page size".into()))?;
    let mut meta = vec![0; page_size];
    let mut found = None;
    for page in 0..2u64 {
        file.read_exact_at(&mut meta, page * page_size as u64)?;
        if u64_at(&meta, META_TXN_ID) == Some(txn_id) {
            found = Some(meta.clone());
        }
    }
    let Some(meta) = found else {
        return Ok(false);
    };
    let last = u64_at(&meta, META_LAST_PAGE).ok_or_else(|| damaged("meta page".into()))?;
    let pages = last
        .checked_add(1)
        .ok_or_else(|| damaged("its meta page names an impossible size".into()))?;
    // The file may end before page `last`: LMDB writes only the pages a commit dirtied, and a
    // page taken from the end and freed in the same commit is never written. Every page a
    // tree references was written, so each must be inside the file (`Walker::inside`).
    let len = file.metadata()?.len();
    let mut walker = Walker {
        file,
        page_size,
        pages,
        file_len: len,
        seen: HashSet::new(),
        page: vec![0; page_size],
    };
    for (name, at) in [("free-page", META_FREE_DB), ("main", META_MAIN_DB)] {
        let record = meta
            .get(at..at + DB_RECORD)
            .ok_or_else(|| damaged("its meta page is truncated".into()))?;
        walker.tree(name, record, name == "main")?;
    }
    Ok(true)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl Walker<'_> {
    /// The tree of a database record; `named` for the main tree, whose leaves may name
    /// databases.
    fn tree(&mut self, name: &str, record: &[u8], named: bool) -> Result<()> {
        let root = u64_at(record, DB_ROOT).ok_or_else(|| damaged("a database record".into()))?;
        if root == NO_PAGE {
            return Ok(());
        }
        self.subtree(name, root, 0, named)
    }

    fn read(&mut self, pgno: u64, what: &str) -> Result<()> {
        // Meta pages (0 and 1) are never tree pages.
        if pgno < 2 || pgno >= self.pages {
            return Err(damaged(format!(
                "the {what} names page {pgno}, outside the {} pages in use",
                self.pages
            )));
        }
        self.inside(pgno, 1, what)?;
        if !self.seen.insert(pgno) {
            return Err(damaged(format!("page {pgno} is reached twice ({what})")));
        }
        self.file
            .read_exact_at(&mut self.page, pgno * self.page_size as u64)?;
        if u64_at(&self.page, 0) != Some(pgno) {
            return Err(damaged(format!("page {pgno} says it is another page")));
        }
        Ok(())
    }

    fn subtree(&mut self, name: &str, pgno: u64, depth: usize, named: bool) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(damaged(format!(
                "the {name} tree is deeper than {MAX_DEPTH}"
            )));
        }
        self.read(pgno, &format!("{name} tree"))?;
        let bad = |what: &str| damaged(format!("page {pgno} of the {name} tree: {what}"));
        let flags = u16_at(&self.page, 10).ok_or_else(|| bad("header"))?;
        let kind = flags & (P_BRANCH | P_LEAF | P_OVERFLOW);
        let lower = usize::from(u16_at(&self.page, 12).ok_or_else(|| bad("header"))?);
        let upper = usize::from(u16_at(&self.page, 14).ok_or_else(|| bad("header"))?);
        if kind != P_BRANCH && kind != P_LEAF {
            return Err(bad(&format!(
                "flags {flags:#x} are neither branch nor leaf"
            )));
        }
        if lower < PAGE_HEADER || lower > upper || upper > self.page_size || lower % 2 != 0 {
            return Err(bad("its free space bounds are impossible"));
        }
        let keys = (lower - PAGE_HEADER) / 2;
        if kind == P_BRANCH && keys == 0 {
            return Err(bad("a branch without children"));
        }
        // Children and sub-databases are walked after this page's checks, so `self.page`
        // is free to be reused: collect them first.
        let mut children = Vec::new();
        let mut databases = Vec::new();
        for i in 0..keys {
            let offset = usize::from(
                u16_at(&self.page, PAGE_HEADER + 2 * i).ok_or_else(|| bad("node offsets"))?,
            );
            if offset < upper || offset + NODE_HEADER > self.page_size {
                return Err(bad("a node lies outside the page"));
            }
            let node = &self.page[offset..];
            let (lo, hi) = (
                u64::from(u16_at(node, 0).unwrap_or(0)),
                u64::from(u16_at(node, 2).unwrap_or(0)),
            );
            let node_flags = u16_at(node, 4).unwrap_or(0);
            let key_size = usize::from(u16_at(node, 6).unwrap_or(0));
            let key_end = NODE_HEADER + key_size;
            if offset + key_end > self.page_size {
                return Err(bad("a key runs past the page"));
            }
            if kind == P_BRANCH {
                children.push(lo | hi << 16 | u64::from(node_flags) << 32);
                continue;
            }
            let data_size = usize::try_from(lo | hi << 16).map_err(|_| bad("a data size"))?;
            if node_flags & F_DUPDATA != 0 {
                return Err(bad("a duplicate-sorted value, which engram never writes"));
            }
            if node_flags & F_BIGDATA != 0 {
                let big = u64_at(node, key_end).ok_or_else(|| bad("an overflow page number"))?;
                if offset + key_end + 8 > self.page_size {
                    return Err(bad("an overflow page number runs past the page"));
                }
                self.check_overflow(name, big, data_size)?;
                // `check_overflow` read another page into the buffer: reread this one.
                self.reread(pgno)?;
                continue;
            }
            if offset + key_end + data_size > self.page_size {
                return Err(bad("a value runs past the page"));
            }
            if node_flags & F_SUBDATA != 0 {
                if !named || data_size != DB_RECORD {
                    return Err(bad("a misplaced database record"));
                }
                databases.push(self.page[offset + key_end..offset + key_end + DB_RECORD].to_vec());
            }
        }
        for child in children {
            self.subtree(name, child, depth + 1, named)?;
        }
        for record in databases {
            self.tree("named database", &record, false)?;
        }
        Ok(())
    }

    /// Checks that pages `pgno..pgno + count`, which the `what` references, are inside the
    /// file: a map read past its end would fault.
    fn inside(&self, pgno: u64, count: u64, what: &str) -> Result<()> {
        let end = pgno
            .checked_add(count)
            .and_then(|end| end.checked_mul(self.page_size as u64));
        if end.is_none_or(|end| end > self.file_len) {
            return Err(damaged(format!(
                "the file is truncated: it has {} bytes, and the {what} uses page {} of {} bytes",
                self.file_len,
                pgno.saturating_add(count.saturating_sub(1)),
                self.page_size
            )));
        }
        Ok(())
    }

    /// Rereads a page already checked (the buffer held another meanwhile).
    fn reread(&mut self, pgno: u64) -> Result<()> {
        self.file
            .read_exact_at(&mut self.page, pgno * self.page_size as u64)?;
        Ok(())
    }

    /// A large value: its first overflow page must say it is one and span the value, inside
    /// the file. Its other pages hold the value's bytes only.
    fn check_overflow(&mut self, name: &str, pgno: u64, size: usize) -> Result<()> {
        self.read(pgno, &format!("{name} tree's large value"))?;
        let bad = |what: &str| damaged(format!("overflow page {pgno}: {what}"));
        let flags = u16_at(&self.page, 10).ok_or_else(|| bad("header"))?;
        let count = u64::from(u32_at(&self.page, 12).ok_or_else(|| bad("header"))?);
        if flags & P_OVERFLOW == 0 || count == 0 {
            return Err(bad("not an overflow page"));
        }
        let end = pgno
            .checked_add(count)
            .ok_or_else(|| bad("its page count"))?;
        if end > self.pages {
            return Err(bad("its pages run past the pages in use"));
        }
        self.inside(pgno, count, &format!("{name} tree's large value"))?;
        let room = count
            .checked_mul(self.page_size as u64)
            .and_then(|bytes| bytes.checked_sub(PAGE_HEADER as u64))
            .ok_or_else(|| bad("its page count"))?;
        if size as u64 > room {
            return Err(bad("its value is larger than its pages"));
        }
        Ok(())
    }
}
