//! `-o FILE`, created on the first byte written to it, as curl does: a
//! run that writes nothing (`-f` on a 404, a refused connection) leaves
//! no empty file behind, and an existing file is not truncated for
//! nothing.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

/// A file that exists only once something is written to it.
pub struct LazyFile {
    path: PathBuf,
    file: Option<File>,
    /// `-C`: bytes go after what the file holds.
    append: bool,
}

impl LazyFile {
    pub fn new(path: PathBuf) -> Self {
        LazyFile {
            path,
            file: None,
            append: false,
        }
    }

    /// A file that keeps its contents and grows (`-C`, resuming).
    pub fn appending(path: PathBuf) -> Self {
        LazyFile {
            append: true,
            ..LazyFile::new(path)
        }
    }

    /// True once something was written (the file exists).
    pub fn opened(&self) -> bool {
        self.file.is_some()
    }

    fn open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let opened = if self.append {
                File::options().create(true).append(true).open(&self.path)
            } else {
                File::create(&self.path)
            };
            let file = opened.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create output file '{}': {e}", self.path.display()),
                )
            })?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

impl Write for LazyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.open()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_on_the_first_byte_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut file = LazyFile::new(path.clone());
        file.write_all(b"").unwrap();
        file.flush().unwrap();
        assert!(!path.exists());
        file.write_all(b"ab").unwrap();
        file.write_all(b"c").unwrap();
        file.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
    }
}
