//! Process-level helpers: the open-file limit, a server's resident memory,
//! and source-address lists.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{bail, Context};

/// Raises the soft RLIMIT_NOFILE to the hard limit: every socket is a file
/// descriptor, and the usual soft limit (1024) is far below 20,000 sockets.
/// Returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
    Ok(limit.rlim_cur as u64)
}

/// `VmRSS` of a process in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS line in {path}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Parses `127.0.0.1-127.0.0.16` (an IPv4 range) or `10.0.0.1,10.0.0.2` (a list;
/// items may themselves be ranges).
pub fn parse_source_ips(spec: &str) -> anyhow::Result<Vec<IpAddr>> {
    let mut ips = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some((from, to)) = item.split_once('-') {
            let from: Ipv4Addr = from
                .trim()
                .parse()
                .with_context(|| format!("bad address in {item:?}"))?;
            let to: Ipv4Addr = to.trim().parse().with_context(|| format!("bad address in {item:?}"))?;
            let (from, to) = (u32::from(from), u32::from(to));
            if to < from || to - from > 65_535 {
                bail!("bad address range {item:?}");
            }
            ips.extend((from..=to).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
        } else {
            ips.push(item.parse().with_context(|| format!("bad address {item:?}"))?);
        }
    }
    if ips.is_empty() {
        bail!("no source address in {spec:?}");
    }
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ip_ranges_and_lists() {
        let ips = parse_source_ips("127.0.0.1-127.0.0.3").unwrap();
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[2], "127.0.0.3".parse::<IpAddr>().unwrap());
        assert_eq!(parse_source_ips("10.0.0.1, 10.0.0.9").unwrap().len(), 2);
        assert!(parse_source_ips("127.0.0.5-127.0.0.1").is_err());
        assert!(parse_source_ips("").is_err());
    }

    #[test]
    fn reads_vm_rss() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t  12345 kB\n"), Some(12345));
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
