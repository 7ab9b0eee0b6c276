//! What a file is, read from its first bytes before LMDB maps it: an empty file, a format-1
//! (redb) store, an LMDB environment (with the size its meta page says it has), or something
//! else. LMDB would turn an empty file into a new environment, and fault (SIGBUS) on a page
//! past the end of a truncated one; this check runs first so that neither can happen.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// The first bytes of every redb file.
const REDB_MAGIC: &[u8] = b"redb\x1A\x0A\xA9\x0D\x0A";
/// `MDB_MAGIC`, at the start of each meta page's body.
const LMDB_MAGIC: u32 = 0xBEEF_C0DE;
/// `MDB_DATA_VERSION` of the LMDB that heed builds.
const LMDB_DATA_VERSION: u32 = 1;
/// Bytes of the page header before a meta page's body (`PAGEHDRSZ`).
const PAGE_HEADER: usize = 16;
/// Offsets in a meta page body (`MDB_meta` on a 64-bit build): magic, version, the page
/// size (`mm_dbs[FREE_DBI].md_pad`), the transaction id.
const META_MAGIC: usize = PAGE_HEADER;
const META_VERSION: usize = PAGE_HEADER + 4;
const META_PAGE_SIZE: usize = PAGE_HEADER + 24;
const META_TXN_ID: usize = PAGE_HEADER + 128;
/// LMDB's page sizes (`MIN_PAGESIZE`..=`MAX_PAGESIZE`); always a power of two.
const PAGE_SIZES: std::ops::RangeInclusive<u64> = 512..=65536;

/// What [`sniff`] found at a path that holds a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Environment {
    /// LMDB's page size for this file.
    pub(crate) page_size: u64,
}

/// Checks that `path` is an LMDB environment whose file holds its meta pages.
///
/// # Errors
/// [`Error::NotAStore`] (empty, a directory, neither LMDB nor redb); [`Error::FormatOne`]
/// for a redb file; [`Error::Corrupt`] for a truncated environment; [`Error::Io`].
pub(crate) fn sniff(path: &Path) -> Result<Environment> {
    let mut file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(Error::NotAStore("a directory".into()));
    }
    if metadata.len() == 0 {
        return Err(Error::NotAStore("the file is empty".into()));
    }
    let mut head = Vec::with_capacity(2 * 65536);
    file.by_ref().take(2 * 65536).read_to_end(&mut head)?;
    if head.starts_with(REDB_MAGIC) {
        return Err(Error::FormatOne {
            supported: crate::FORMAT_VERSION,
        });
    }
    let first = meta_page(&head, 0)?.ok_or_else(|| {
        Error::NotAStore("neither an LMDB environment nor a format-1 (redb) store".into())
    })?;
    let second = usize::try_from(first.page_size)
        .ok()
        .and_then(|offset| head.get(offset..))
        .map(|page| meta_page(page, 0))
        .transpose()?
        .flatten()
        .filter(|second| second.page_size == first.page_size);
    // LMDB reads the meta page with the larger transaction id.
    let newest = match second {
        Some(second) if second.txn_id > first.txn_id => second,
        _ => first,
    };
    // Only the two meta pages must be there. The pages the meta page says are in use
    // (`last_page`) may run past the end of the file: LMDB writes only the pages a commit
    // dirtied, so a page it took from the end of the file and freed in the same commit is
    // never written, and the file ends before it. The pages the trees reference are checked
    // against the file's length when they are walked (`verify`).
    let needed = 2 * newest.page_size;
    // The length after the meta pages were read: a commit grows a file, never shrinks it.
    let len = file.metadata()?.len();
    if len < needed {
        return Err(Error::Corrupt(format!(
            "the file is truncated: it has {len} bytes, less than its two meta pages"
        )));
    }
    Ok(Environment {
        page_size: newest.page_size,
    })
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    page_size: u64,
    txn_id: u64,
}

/// The meta page at `offset` of `bytes`, `None` if it has no LMDB magic.
fn meta_page(bytes: &[u8], offset: usize) -> Result<Option<Meta>> {
    let u32_at = |at: usize| -> Option<u32> {
        let b = bytes.get(offset + at..offset + at + 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    };
    let u64_at = |at: usize| -> Option<u64> {
        let b = bytes.get(offset + at..offset + at + 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    };
    if u32_at(META_MAGIC) != Some(LMDB_MAGIC) {
        return Ok(None);
    }
    let version = u32_at(META_VERSION).unwrap_or(0);
    if version != LMDB_DATA_VERSION {
        return Err(Error::NotAStore(format!(
            "an LMDB environment of data version {version}, not {LMDB_DATA_VERSION}"
        )));
    }
    let (Some(page_size), Some(txn_id)) = (u32_at(META_PAGE_SIZE), u64_at(META_TXN_ID)) else {
        return Err(Error::Corrupt("its meta page is truncated".into()));
    };
    let page_size = u64::from(page_size);
    if !PAGE_SIZES.contains(&page_size) || !page_size.is_power_of_two() {
        return Err(Error::Corrupt(format!(
            "its meta page names page size {page_size}"
        )));
    }
    Ok(Some(Meta { page_size, txn_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a meta page says which page is the last in use (not read by `sniff`).
    const META_LAST_PAGE: usize = PAGE_HEADER + 120;

    fn meta(page_size: u32, last_page: u64, txn_id: u64) -> Vec<u8> {
        let mut page = vec![0u8; page_size as usize];
        page[META_MAGIC..META_MAGIC + 4].copy_from_slice(&LMDB_MAGIC.to_le_bytes());
        page[META_VERSION..META_VERSION + 4].copy_from_slice(&1u32.to_le_bytes());
        page[META_PAGE_SIZE..META_PAGE_SIZE + 4].copy_from_slice(&page_size.to_le_bytes());
        page[META_LAST_PAGE..META_LAST_PAGE + 8].copy_from_slice(&last_page.to_le_bytes());
        page[META_TXN_ID..META_TXN_ID + 8].copy_from_slice(&txn_id.to_le_bytes());
        page
    }

    fn sniff_bytes(bytes: &[u8]) -> Result<Environment> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).expect("write");
        sniff(&path)
    }

    #[test]
    fn the_newest_meta_page_decides_the_page_size_and_both_must_be_there() {
        let mut file = meta(4096, 3, 7);
        file.extend(meta(4096, 5, 8));
        // Pages 2.. may be missing: the trees' pages are checked when they are walked.
        assert_eq!(
            sniff_bytes(&file).expect("both meta pages"),
            Environment { page_size: 4096 }
        );
        file.truncate(2 * 4096 - 1);
        let err = sniff_bytes(&file).expect_err("one byte short");
        assert!(
            matches!(err, Error::Corrupt(ref m) if m.contains("truncated")),
            "{err}"
        );
        // The second meta page of another page size is not one: the first decides.
        let mut file = meta(8192, 3, 7);
        file.extend(meta(4096, 5, 9));
        file.resize(2 * 8192, 0);
        assert_eq!(
            sniff_bytes(&file).expect("whole"),
            Environment { page_size: 8192 }
        );
    }

    #[test]
    fn what_is_not_an_environment_is_named() {
        let not = |bytes: &[u8]| match sniff_bytes(bytes) {
            Err(Error::NotAStore(what)) => what,
            other => panic!("{other:?}"),
        };
        assert_eq!(not(b""), "the file is empty");
        assert!(not(b"hello").contains("neither"));
        assert!(matches!(
            sniff_bytes(b"redb\x1A\x0A\xA9\x0D\x0A and more"),
            Err(Error::FormatOne { .. })
        ));
        let mut bad_size = meta(4096, 3, 7);
        bad_size[META_PAGE_SIZE..META_PAGE_SIZE + 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(sniff_bytes(&bad_size), Err(Error::Corrupt(_))));
        assert!(matches!(
            sniff_bytes(&meta(4096, 1, 1)[..100]),
            Err(Error::Corrupt(_))
        ));
    }
}
