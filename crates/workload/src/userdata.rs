//! User data: decoding it as EC2 receives it, and choosing what runs it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use base64::Engine;

use crate::error::{Error, Result};

/// The most user data EC2 accepts: 16 KiB, counted before base64 encoding.
pub const MAX_USER_DATA: usize = 16 * 1024;

/// The shell that runs user data without a `#!` line.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// Decodes `UserData` as the EC2 API carries it: standard base64 (the AWS CLI and SDKs
/// encode it for the caller). ASCII whitespace (line breaks from `base64` tools) is
/// ignored. At most [`MAX_USER_DATA`] bytes once decoded.
pub fn decode_user_data(encoded: &str) -> Result<Vec<u8>> {
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| Error::InvalidUserData(format!("not valid base64 ({e})")))?;
    if decoded.len() > MAX_USER_DATA {
        return Err(Error::InvalidUserData(format!(
            "{} bytes once decoded; at most {MAX_USER_DATA} are allowed",
            decoded.len()
        )));
    }
    Ok(decoded)
}

/// The command line that runs the user data stored at `script`: its `#!` interpreter (with
/// the optional single argument, as the kernel splits it) if it has one, `/bin/sh`
/// otherwise. The interpreter is invoked explicitly, so the file needs no execute bit and
/// may sit on a `noexec` mount; a trailing `\r` (a script saved with CRLF line ends) is
/// dropped from the `#!` line.
pub fn interpreter_argv(user_data: &[u8], script: &OsStr) -> Vec<OsString> {
    let mut argv = match shebang(user_data) {
        Some((interpreter, arg)) => {
            let mut argv = vec![OsStr::from_bytes(interpreter).to_owned()];
            argv.extend(arg.map(|a| OsStr::from_bytes(a).to_owned()));
            argv
        }
        None => vec![OsString::from(DEFAULT_SHELL)],
    };
    argv.push(script.to_owned());
    argv
}

/// The kernel's reading of a `#!` line: blanks, the interpreter up to the next blank, then
/// everything else on the line, trimmed, as one optional argument.
fn shebang(data: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let rest = data.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let line = trim(line, is_blank);
    let end = line.iter().position(is_blank).unwrap_or(line.len());
    let (interpreter, arg) = line.split_at(end);
    if interpreter.is_empty() {
        return None;
    }
    let arg = trim(arg, is_blank);
    Some((interpreter, (!arg.is_empty()).then_some(arg)))
}

fn trim(mut s: &[u8], blank: impl Fn(&u8) -> bool) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !blank(first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !blank(last) {
            break;
        }
        s = rest;
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64_with_line_breaks() {
        assert_eq!(decode_user_data("ZWNobyBoaQ==").unwrap(), b"echo hi");
        assert_eq!(
            decode_user_data("ZWNo\nbyBo\r\naQ==\n").unwrap(),
            b"echo hi"
        );
        assert_eq!(decode_user_data("").unwrap(), b"");
        assert!(matches!(
            decode_user_data("not base64!"),
            Err(Error::InvalidUserData(_))
        ));
        assert!(matches!(
            decode_user_data("ZWNobyBoaQ"),
            Err(Error::InvalidUserData(_))
        ));
    }

    #[test]
    fn enforces_the_ec2_size_limit() {
        let engine = base64::engine::general_purpose::STANDARD;
        let at_limit = engine.encode(vec![b'x'; MAX_USER_DATA]);
        assert_eq!(decode_user_data(&at_limit).unwrap().len(), MAX_USER_DATA);
        let over = engine.encode(vec![b'x'; MAX_USER_DATA + 1]);
        assert!(matches!(
            decode_user_data(&over),
            Err(Error::InvalidUserData(_))
        ));
    }

    fn argv(data: &[u8]) -> Vec<String> {
        interpreter_argv(data, OsStr::new("/u"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn shell_by_default() {
        assert_eq!(argv(b"echo hi\n"), ["/bin/sh", "/u"]);
        assert_eq!(argv(b""), ["/bin/sh", "/u"]);
        assert_eq!(argv(b"#!\necho"), ["/bin/sh", "/u"]);
        assert_eq!(argv(b"#!   \necho"), ["/bin/sh", "/u"]);
        assert_eq!(argv(b" #!/bin/bash\n"), ["/bin/sh", "/u"]);
        assert_eq!(argv(b"#cloud-config\n"), ["/bin/sh", "/u"]);
    }

    #[test]
    fn shebang_lines_as_the_kernel_reads_them() {
        assert_eq!(argv(b"#!/bin/bash\nset -e\n"), ["/bin/bash", "/u"]);
        assert_eq!(argv(b"#! /bin/bash -eu \n"), ["/bin/bash", "-eu", "/u"]);
        assert_eq!(
            argv(b"#!/usr/bin/env python3\nprint(1)"),
            ["/usr/bin/env", "python3", "/u"]
        );
        // Everything after the interpreter is one argument.
        assert_eq!(
            argv(b"#!/usr/bin/env -S python3 -u\n"),
            ["/usr/bin/env", "-S python3 -u", "/u"]
        );
        assert_eq!(argv(b"#!/bin/sh\r\necho\r\n"), ["/bin/sh", "/u"]);
        assert_eq!(argv(b"#!\t/bin/sh\t-x"), ["/bin/sh", "-x", "/u"]);
    }
}
