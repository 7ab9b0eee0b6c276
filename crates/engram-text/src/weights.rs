//! `model.safetensors`, read once and checked as it is read.
//!
//! Every byte of the file passes through SHA-256 on a second thread while this one moves each
//! tensor's values straight into the `Vec` its [`Tensor`] will own. candle's own loaders
//! either hold the whole file and then copy every tensor out of it (two copies of 90 MB, and
//! nothing to hash with until the whole file is read) or map it (`unsafe`, and another process
//! could change the pages after the check). Here the bytes that were hashed are the bytes that are used, once,
//! and the hashing overlaps the reading: loading the model went from about 200 to about 100 ms
//! on the Intel Xeon (BENCHMARKS.md, "Loading the model").
//!
//! The file's layout is only trusted once its digest is the model's: a file of another length
//! is hashed without being parsed, and a file whose header does not parse is hashed to its end,
//! so any other file gets [`Loaded::digest`] (and so `ModelMismatch`), never a parse error. What
//! a file of the model's length can make this allocate is bounded by that length.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read as _};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use candle_core::{Device, Tensor};
use safetensors::Dtype;
use safetensors::tensor::Metadata;
use sha2::{Digest, Sha256};

/// The size of `model.safetensors` (upstream all-MiniLM-L6-v2). A file of another size is not
/// the model: it is hashed to report its digest, and never parsed or loaded.
pub(crate) const MODEL_BYTES: u64 = 90_868_376;

/// Bytes per read, and per hand-off to the hasher: large enough that a read or a hand-off costs
/// little next to hashing it (about 0.7 ms per MiB with SHA-NI). The buffers are reused, so
/// their pages are faulted in once, not once per MiB of the file.
const CHUNK: usize = 1 << 20;

/// Buffers in flight between the reader and the hasher: one being filled, one being hashed,
/// one waiting, so that neither side waits for the other while both have work.
const BUFFERS: usize = 3;

/// What reading `model.safetensors` found.
pub(crate) struct Loaded {
    /// The SHA-256 of every byte of the file, in lowercase hexadecimal.
    pub(crate) digest: String,
    /// The f32 tensors by name; or why the file could not be read as the model (only
    /// meaningful when the digest is the model's, which is never the case for a file that
    /// does not parse).
    pub(crate) tensors: Result<HashMap<String, Tensor>, String>,
}

/// Reads and hashes `path`.
///
/// # Errors
/// The I/O error of opening or reading the file (including a file that got shorter while it
/// was read).
pub(crate) fn read(path: &Path) -> io::Result<Loaded> {
    read_expecting(path, MODEL_BYTES)
}

/// [`read`], for a file whose expected size is `expected_len` (tests use small files).
fn read_expecting(path: &Path, expected_len: u64) -> io::Result<Loaded> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    std::thread::scope(|scope| {
        let (to_hasher, hashed) = sync_channel::<Vec<u8>>(BUFFERS);
        let (recycle, free) = sync_channel::<Vec<u8>>(BUFFERS);
        for _ in 0..BUFFERS {
            recycle
                .send(Vec::with_capacity(CHUNK))
                .map_err(|_| stopped())?;
        }
        let hasher = std::thread::Builder::new()
            .name("engram-sha256".into())
            .spawn_scoped(scope, move || {
                let mut sha = Sha256::new();
                for buffer in hashed {
                    sha.update(&buffer);
                    // The reader may have stopped on an error: then nobody takes it back.
                    let _ = recycle.send(buffer);
                }
                sha.finalize()
            })?;
        let mut reader = Hashed {
            file,
            to_hasher,
            free,
        };
        let tensors = if len == expected_len {
            tensors(&mut reader, len)
        } else {
            Ok(Err(format!("it has {len} bytes, the model {expected_len}")))
        };
        // Whatever the tensors gave, the digest covers the whole file.
        let tensors = tensors.and_then(|t| reader.drain().map(|()| t));
        drop(reader); // closes the channel, so the hasher finishes
        let digest = hasher.join().map_err(|_| stopped())?;
        Ok(Loaded {
            digest: crate::minilm::hex(&digest),
            tensors: tensors?,
        })
    })
}

/// The error for a hasher that is gone (it panicked), which nothing in it should do.
fn stopped() -> io::Error {
    io::Error::other("the SHA-256 thread stopped")
}

/// A file whose every byte read goes to the hasher.
struct Hashed {
    file: File,
    to_hasher: SyncSender<Vec<u8>>,
    free: Receiver<Vec<u8>>,
}

impl Hashed {
    /// Reads exactly `len` bytes, `CHUNK` at a time, shows each chunk to `take`, then hashes it.
    fn read(&mut self, mut len: u64, mut take: impl FnMut(&[u8])) -> io::Result<()> {
        while len > 0 {
            let mut buffer = self.free.recv().map_err(|_| stopped())?;
            let n = usize::try_from(len).map_or(CHUNK, |len| len.min(CHUNK));
            buffer.resize(n, 0);
            self.file.read_exact(&mut buffer)?;
            take(&buffer);
            self.to_hasher.send(buffer).map_err(|_| stopped())?;
            len -= n as u64;
        }
        Ok(())
    }

    /// Reads (and hashes) the rest of the file.
    fn drain(&mut self) -> io::Result<()> {
        loop {
            let mut buffer = self.free.recv().map_err(|_| stopped())?;
            buffer.resize(CHUNK, 0);
            let n = loop {
                match self.file.read(&mut buffer) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 {
                return Ok(());
            }
            buffer.truncate(n);
            self.to_hasher.send(buffer).map_err(|_| stopped())?;
        }
    }

    /// Reads `len` bytes into a new `Vec`.
    fn read_vec(&mut self, len: u64) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read(len, |chunk| bytes.extend_from_slice(chunk))?;
        Ok(bytes)
    }
}

/// The tensors of a safetensors file of `len` bytes (its header, then each tensor's bytes in
/// offset order). Non-f32 tensors are hashed and skipped: the model's only one is BERT's
/// `position_ids`, which candle does not read. The inner error is a file that is not laid out
/// as the header says; the outer one an I/O error.
fn tensors(reader: &mut Hashed, len: u64) -> io::Result<Result<HashMap<String, Tensor>, String>> {
    let header_len = u64::from_le_bytes(
        reader
            .read_vec(8)?
            .try_into()
            .map_err(|_| io::Error::other("short read"))?,
    );
    if header_len > len.saturating_sub(8) {
        return Ok(Err(format!("its header claims {header_len} bytes")));
    }
    let header = reader.read_vec(header_len)?;
    let metadata: Metadata = match serde_json::from_slice(&header) {
        Ok(metadata) => metadata,
        Err(e) => return Ok(Err(format!("its header: {e}"))),
    };
    let described = (metadata.data_len() as u64).checked_add(8 + header_len);
    if described != Some(len) {
        return Ok(Err("its header does not describe the whole file".into()));
    }
    let mut tensors = HashMap::new();
    for name in metadata.offset_keys() {
        let Some(info) = metadata.info(&name) else {
            return Ok(Err(format!("no offsets for {name}")));
        };
        let (start, end) = info.data_offsets;
        let bytes = (end - start) as u64;
        if info.dtype != Dtype::F32 {
            reader.read(bytes, |_| {})?;
            continue;
        }
        // A multiple of 4: the header was validated against the shape and dtype, and every
        // chunk but the last is CHUNK bytes, a multiple of 4 too.
        let mut values = Vec::with_capacity((end - start) / 4);
        reader.read(bytes, |chunk| {
            let (words, _) = chunk.as_chunks::<4>();
            values.extend(words.iter().map(|&w| f32::from_le_bytes(w)));
        })?;
        match Tensor::from_vec(values, info.shape.clone(), &Device::Cpu) {
            Ok(tensor) => tensors.insert(name, tensor),
            Err(e) => return Ok(Err(format!("{name}: {e}"))),
        };
    }
    Ok(Ok(tensors))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file: a 3-element f32 tensor, an i64 one (skipped, as BERT's
    /// `position_ids`), and an f32 tensor larger than a [`CHUNK`], so its values cross reads.
    fn file() -> (tempfile::NamedTempFile, Vec<u8>, Vec<f32>) {
        let large: Vec<f32> = (0..CHUNK / 4 + 1000)
            .map(|i| i as f32 * 0.5 - 7.25)
            .collect();
        let small = [1.5f32, -0.0, f32::MIN_POSITIVE];
        let large_bytes = large.len() * 4;
        let header = format!(
            r#"{{"__metadata__":{{"format":"pt"}},"a.weight":{{"dtype":"F32","shape":[3],"data_offsets":[0,12]}},"ids":{{"dtype":"I64","shape":[1,2],"data_offsets":[12,28]}},"b.weight":{{"dtype":"F32","shape":[{},1],"data_offsets":[28,{}]}}}}"#,
            large.len(),
            28 + large_bytes
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        small.iter().for_each(|x| bytes.extend(x.to_le_bytes()));
        [7i64, -1]
            .iter()
            .for_each(|x| bytes.extend(x.to_le_bytes()));
        large.iter().for_each(|x| bytes.extend(x.to_le_bytes()));
        (written(&bytes), bytes, large)
    }

    fn written(bytes: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), bytes).expect("write");
        file
    }

    fn digest(bytes: &[u8]) -> String {
        crate::minilm::hex(&Sha256::digest(bytes))
    }

    #[test]
    fn every_byte_is_hashed_and_every_f32_tensor_read() {
        let (file, bytes, large) = file();
        let read = read_expecting(file.path(), bytes.len() as u64).expect("read");
        assert_eq!(read.digest, digest(&bytes));
        let tensors = read.tensors.expect("tensors");
        let mut names: Vec<_> = tensors.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["a.weight", "b.weight"]);
        let a: Vec<f32> = tensors["a.weight"].to_vec1().expect("a");
        let want = [1.5f32, -0.0, f32::MIN_POSITIVE];
        assert_eq!(a.map_bits(), want.as_slice().map_bits());
        let b = &tensors["b.weight"];
        assert_eq!(b.dims(), [large.len(), 1]);
        let b: Vec<f32> = b.flatten_all().and_then(|b| b.to_vec1()).expect("b");
        assert_eq!(b, large);
    }

    #[test]
    fn a_file_of_another_length_is_hashed_whole_and_not_parsed() {
        let (file, mut bytes, _) = file();
        let read = read_expecting(file.path(), bytes.len() as u64 + 1).expect("read");
        assert_eq!(read.digest, digest(&bytes));
        assert!(read.tensors.is_err());
        // The same file with a byte more: hashed to its end.
        bytes.push(0);
        let file = written(&bytes);
        let read = read_expecting(file.path(), bytes.len() as u64 - 1).expect("read");
        assert_eq!(read.digest, digest(&bytes));
        assert!(read.tensors.is_err());
    }

    #[test]
    fn a_file_not_laid_out_as_its_header_says_is_hashed_whole_and_refused() {
        let (_, bytes, _) = file();
        type Damage = fn(&mut Vec<u8>);
        let damages: [(&str, Damage); 4] = [
            ("header JSON", |b| b[8] = b'x'),
            ("header length", |b| {
                b[..8].copy_from_slice(&u64::MAX.to_le_bytes())
            }),
            ("bytes the header does not describe", |b| b.extend([0; 8])),
            ("a dtype", |b| {
                let at = b.windows(3).position(|w| w == b"F32").expect("dtype");
                b[at..at + 3].copy_from_slice(b"F16");
            }),
        ];
        for (what, damage) in damages {
            let mut damaged = bytes.clone();
            damage(&mut damaged);
            let file = written(&damaged);
            let read = read_expecting(file.path(), damaged.len() as u64).expect("read");
            assert_eq!(read.digest, digest(&damaged), "{what}");
            assert!(read.tensors.is_err(), "{what}");
        }
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("model.safetensors");
        assert_eq!(
            read(&missing).map(|_| ()).map_err(|e| e.kind()),
            Err(io::ErrorKind::NotFound)
        );
    }

    trait Bits {
        fn map_bits(&self) -> Vec<u32>;
    }

    impl Bits for [f32] {
        fn map_bits(&self) -> Vec<u32> {
            self.iter().map(|x| x.to_bits()).collect()
        }
    }
}
