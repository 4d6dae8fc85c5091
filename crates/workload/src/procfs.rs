//! What `/proc` says about a process: enough to tell a workload from a process that reused
//! its pid.

use std::fs;
use std::io;

/// The start time of process `pid`, in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`). Together with the pid it names one process for the life of the
/// host: the kernel reuses pids, never (pid, start time) pairs.
pub fn start_time(pid: u32) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_start_time(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat: {stat:?}"),
        )
    })
}

/// Field 22 of a `/proc/<pid>/stat` line. The second field, the command name in
/// parentheses, may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
pub(crate) fn parse_start_time(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: field 22 is the 20th of them.
    after_comm.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22() {
        let line = "1234 (sh) S 1 1234 1234 0 -1 4194560 99 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 2437120 200 18446744073709551615 1 1 0 0 0 0 0 4 65538 0 0 0 17 1 0 \
                    0 0 0 0";
        assert_eq!(parse_start_time(line), Some(987654));
    }

    #[test]
    fn command_names_with_spaces_and_parentheses() {
        let line = "77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0";
        assert_eq!(parse_start_time(line), Some(4242));
        assert_eq!(parse_start_time("77 (x) R 1"), None);
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id();
        let first = start_time(me).unwrap();
        assert!(first > 0);
        assert_eq!(start_time(me).unwrap(), first);
    }
}
