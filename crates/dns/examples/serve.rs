//! Serves a few local names on one address, for measuring: `serve 127.0.0.1:5400 [upstream]`.
//! Names: api.example.com (two A), host-N.ec2.internal for N < 1000, *.vpce.example.com.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dns::{Dns, DnsConfig, Records, View, ViewId};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:5400".into());
    let upstreams = args.map(|a| a.parse()).collect::<Result<Vec<_>, _>>()?;
    let dns = Dns::new(DnsConfig {
        upstreams,
        ..DnsConfig::default()
    });
    let mut names = BTreeMap::new();
    names.insert(
        "api.example.com".to_string(),
        vec![Ipv4Addr::new(10, 0, 1, 5), Ipv4Addr::new(10, 0, 2, 5)],
    );
    names.insert(
        "*.vpce.example.com".to_string(),
        vec![Ipv4Addr::new(10, 0, 1, 6)],
    );
    for n in 0..1000u32 {
        let [_, _, a, b] = n.to_be_bytes();
        names.insert(
            format!("host-{n}.ec2.internal"),
            vec![Ipv4Addr::new(10, 1, a, b)],
        );
    }
    let vpc = View {
        zones: vec!["api.example.com".into(), "ec2.internal".into()],
        names,
        ptr: BTreeMap::new(),
    };
    dns.apply(Records {
        public: View::default(),
        vpcs: BTreeMap::from([("vpc-1".to_string(), vpc)]),
    });
    let udp = std::net::UdpSocket::bind(&listen)?;
    let tcp = std::net::TcpListener::bind(&listen)?;
    let serving = dns.serve(ViewId::Vpc("vpc-1".into()), udp, tcp)?;
    tokio::signal::ctrl_c().await?;
    serving.stop().await;
    Ok(())
}
