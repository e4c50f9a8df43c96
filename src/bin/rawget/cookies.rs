//! `-b`/`--cookie`, `-c`/`--cookie-jar` and `-j`/`--junk-session-cookies`
//! with curl's meaning, and the files they read and write.
//!
//! `-b` takes `NAME=VALUE; ...` (any argument with a `=`), or a file to
//! read cookies from (Netscape format or `Set-Cookie:` lines; `-` is
//! stdin; a file that cannot be read is ignored, as curl ignores it, so
//! `-b ''` just turns the engine on). A file, `-b ''` or `-c` turns the
//! engine on: cookies received are recorded and sent on redirects and to
//! the later URLs of the run. The rules themselves live in
//! [`rawnet::http::cookies`].
//!
//! `-c FILE` is written when the run ends, whatever its outcome (as
//! curl), atomically: a temporary file in the same directory, created
//! owner-only (0600), then renamed over FILE, so a reader never sees half
//! a jar and an existing FILE's looser mode is not kept. `-c -` writes to
//! stdout.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use rawnet::http::cookies::CookieJar;

/// The most of a `-b` file read: a cookie file is small, and a path such
/// as /dev/zero must not fill the memory.
const MAX_COOKIE_FILE: u64 = 64 * 1024 * 1024;

/// The cookie flags.
#[derive(Debug, Default, Args)]
pub struct CookieArgs {
    /// Send cookies: "NAME=VALUE; ..." as typed, or read FILE (Netscape jar or Set-Cookie lines; '': none)
    ///
    /// An argument with a '=' is cookies to send as typed (only to the
    /// URL's own host, not to another host a redirect leads to). Any other
    /// is a file to load cookies from, which also records the cookies the
    /// responses set and sends them on with -L and to the later URLs, by
    /// their domain, path, Secure and expiry rules. Repeatable.
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE")]
    pub cookie: Vec<String>,

    /// Write every cookie to FILE (Netscape format, mode 0600, replaced atomically) when done ('-': stdout)
    #[arg(short = 'c', long = "cookie-jar", value_name = "FILE")]
    pub cookie_jar: Option<PathBuf>,

    /// With -b FILE: leave out the session cookies (those without an expiry)
    #[arg(short = 'j', long = "junk-session-cookies")]
    pub junk_session_cookies: bool,
}

impl CookieArgs {
    /// The jar the run shares, or `None` without cookie flags. Reads the
    /// `-b` files (a usage error: a typed cookie that cannot be sent).
    pub fn jar(&self) -> Result<Option<Arc<CookieJar>>, String> {
        let (typed, files): (Vec<String>, Vec<String>) =
            self.cookie.iter().cloned().partition(|c| c.contains('='));
        if typed.is_empty() && files.is_empty() && self.cookie_jar.is_none() {
            return Ok(None);
        }
        let engine = !files.is_empty() || self.cookie_jar.is_some();
        let jar = CookieJar::new(&typed, engine).map_err(|e| format!("-b: {e}"))?;
        for file in &files {
            if let Some(text) = read_cookie_file(file)? {
                jar.load(&text, self.junk_session_cookies);
            }
        }
        Ok(Some(Arc::new(jar)))
    }
}

/// The text of a `-b` file; `None` when there is none to read (curl
/// ignores such a file); an error when it is larger than a cookie file
/// can be.
fn read_cookie_file(file: &str) -> Result<Option<String>, String> {
    if file.is_empty() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    let limit = MAX_COOKIE_FILE + 1;
    let read = if file == "-" {
        io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    if read.is_err() {
        return Ok(None);
    }
    if bytes.len() as u64 > MAX_COOKIE_FILE {
        return Err(format!(
            "-b '{file}': more than {} MiB, not a cookie file",
            MAX_COOKIE_FILE >> 20
        ));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Writes the jar to `path` (`-` : stdout) as the module doc says.
pub fn save(jar: &CookieJar, path: &Path) -> io::Result<()> {
    let text = jar.netscape();
    if path.as_os_str() == "-" {
        let mut out = crate::stdout::stdout();
        out.write_all(text.as_bytes())?;
        return out.flush();
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600 and O_EXCL.
    let mut tmp = tempfile::Builder::new()
        .prefix(".rawget-cookies-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn typed_cookies_files_and_the_engine() {
        let args = |b: &[&str], c: Option<&str>| CookieArgs {
            cookie: b.iter().map(|s| s.to_string()).collect(),
            cookie_jar: c.map(PathBuf::from),
            junk_session_cookies: false,
        };
        assert!(args(&[], None).jar().unwrap().is_none());
        let typed = args(&["a=1"], None).jar().unwrap().unwrap();
        assert!(
            !typed.engine(),
            "-b NAME=VALUE alone records nothing, as curl"
        );
        assert!(args(&[""], None).jar().unwrap().unwrap().engine());
        assert!(args(&[], Some("j")).jar().unwrap().unwrap().engine());
        assert!(args(&["/nonexistent/jar"], None).jar().unwrap().is_some());
        assert!(args(&["a=1\nb"], None).jar().is_err());
        assert!(args(&["/dev/zero"], None).jar().is_err(), "bounded");
    }

    #[test]
    fn the_jar_replaces_a_file_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jar.txt");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let jar = CookieJar::new(&[], true).unwrap();
        save(&jar, &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with(rawnet::http::cookies::NETSCAPE_MAGIC));
        // Only the jar is left in the directory: no temporary file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(save(&jar, &dir.path().join("no/such/dir/jar")).is_err());
    }
}
