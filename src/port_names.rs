//! Port number to well-known TCP service name, for the `service` column
//! and JSON field of `portscan`.
//!
//! The table is compiled in (no `/etc/services` or `nmap-services` file is
//! read, so output does not depend on the machine) and covers nmap's most
//! frequently open TCP ports plus common databases, brokers and admin
//! ports. Names follow nmap-services where it has one, so results compare
//! directly with `nmap -sT`. A name is a guess from the port number alone:
//! nothing here looks at what the server actually speaks.

/// UDP `(port, name)`, sorted by port, no duplicates (a unit test
/// checks): the ports with a payload and nmap's most often open UDP
/// ports, nmap-services names.
static UDP_SERVICES: &[(u16, &str)] = &[
    (7, "echo"),
    (9, "discard"),
    (53, "domain"),
    (67, "dhcps"),
    (68, "dhcpc"),
    (69, "tftp"),
    (111, "rpcbind"),
    (123, "ntp"),
    (135, "msrpc"),
    (137, "netbios-ns"),
    (138, "netbios-dgm"),
    (139, "netbios-ssn"),
    (161, "snmp"),
    (162, "snmptrap"),
    (177, "xdmcp"),
    (445, "microsoft-ds"),
    (500, "isakmp"),
    (514, "syslog"),
    (520, "route"),
    (623, "asf-rmcp"),
    (631, "ipp"),
    (1194, "openvpn"),
    (1434, "ms-sql-m"),
    (1701, "L2TP"),
    (1812, "radius"),
    (1813, "radacct"),
    (1900, "upnp"),
    (2049, "nfs"),
    (4500, "nat-t-ike"),
    (5060, "sip"),
    (5353, "zeroconf"),
    (5355, "llmnr"),
    (11211, "memcache"),
];

/// The well-known UDP service name for `port`, if the table has one.
///
/// ```
/// assert_eq!(rawnet::port_names::udp_service(53), Some("domain"));
/// assert_eq!(rawnet::port_names::udp_service(40000), None);
/// ```
pub fn udp_service(port: u16) -> Option<&'static str> {
    UDP_SERVICES
        .binary_search_by_key(&port, |&(p, _)| p)
        .ok()
        .map(|i| UDP_SERVICES[i].1)
}

/// The UDP ports the table names `name` (case-insensitive).
pub fn udp_ports_named(name: &str) -> impl Iterator<Item = u16> + '_ {
    UDP_SERVICES
        .iter()
        .filter(move |(_, n)| n.eq_ignore_ascii_case(name))
        .map(|&(p, _)| p)
}

/// `(port, name)`, sorted by port, no duplicates (a unit test checks).
static TCP_SERVICES: &[(u16, &str)] = &[
    (1, "tcpmux"),
    (7, "echo"),
    (9, "discard"),
    (13, "daytime"),
    (17, "qotd"),
    (19, "chargen"),
    (20, "ftp-data"),
    (21, "ftp"),
    (22, "ssh"),
    (23, "telnet"),
    (25, "smtp"),
    (26, "rsftp"),
    (37, "time"),
    (43, "whois"),
    (49, "tacacs"),
    (53, "domain"),
    (67, "dhcps"),
    (69, "tftp"),
    (70, "gopher"),
    (79, "finger"),
    (80, "http"),
    (81, "hosts2-ns"),
    (88, "kerberos-sec"),
    (102, "iso-tsap"),
    (106, "pop3pw"),
    (110, "pop3"),
    (111, "rpcbind"),
    (113, "ident"),
    (119, "nntp"),
    (123, "ntp"),
    (135, "msrpc"),
    (137, "netbios-ns"),
    (139, "netbios-ssn"),
    (143, "imap"),
    (144, "news"),
    (161, "snmp"),
    (179, "bgp"),
    (199, "smux"),
    (389, "ldap"),
    (427, "svrloc"),
    (443, "https"),
    (444, "snpp"),
    (445, "microsoft-ds"),
    (464, "kpasswd5"),
    (465, "smtps"),
    (497, "retrospect"),
    (500, "isakmp"),
    (502, "mbap"),
    (512, "exec"),
    (513, "login"),
    (514, "shell"),
    (515, "printer"),
    (543, "klogin"),
    (544, "kshell"),
    (548, "afp"),
    (554, "rtsp"),
    (587, "submission"),
    (593, "http-rpc-epmap"),
    (623, "oob-ws-http"),
    (631, "ipp"),
    (636, "ldapssl"),
    (646, "ldp"),
    (873, "rsync"),
    (902, "iss-realsecure"),
    (989, "ftps-data"),
    (990, "ftps"),
    (992, "telnets"),
    (993, "imaps"),
    (995, "pop3s"),
    (1025, "NFS-or-IIS"),
    (1026, "LSA-or-nterm"),
    (1027, "IIS"),
    (1029, "ms-lsa"),
    (1080, "socks"),
    (1110, "nfsd-status"),
    (1194, "openvpn"),
    (1433, "ms-sql-s"),
    (1434, "ms-sql-m"),
    (1521, "oracle"),
    (1604, "citrixica"),
    (1701, "l2f"),
    (1720, "h323q931"),
    (1723, "pptp"),
    (1755, "wms"),
    (1812, "radius"),
    (1883, "mqtt"),
    (1900, "upnp"),
    (2000, "cisco-sccp"),
    (2001, "dc"),
    (2049, "nfs"),
    (2082, "infowave"),
    (2083, "radsec"),
    (2121, "ccproxy-ftp"),
    (2181, "eforward"),
    (2375, "docker"),
    (2376, "docker-s"),
    (2379, "etcd-client"),
    (2380, "etcd-server"),
    (2717, "pn-requester"),
    (3000, "ppp"),
    (3128, "squid-http"),
    (3268, "globalcatLDAP"),
    (3269, "globalcatLDAPssl"),
    (3306, "mysql"),
    (3389, "ms-wbt-server"),
    (3690, "svn"),
    (3986, "mapper-ws_ethd"),
    (4369, "epmd"),
    (4443, "pharos"),
    (4567, "tram"),
    (4899, "radmin"),
    (5000, "upnp"),
    (5001, "commplex-link"),
    (5009, "airport-admin"),
    (5051, "ida-agent"),
    (5060, "sip"),
    (5061, "sip-tls"),
    (5101, "admdog"),
    (5190, "aol"),
    (5222, "xmpp-client"),
    (5269, "xmpp-server"),
    (5357, "wsdapi"),
    (5432, "postgresql"),
    (5555, "freeciv"),
    (5601, "esmagent"),
    (5631, "pcanywheredata"),
    (5666, "nrpe"),
    (5672, "amqp"),
    (5800, "vnc-http"),
    (5900, "vnc"),
    (5901, "vnc-1"),
    (5984, "couchdb"),
    (5985, "wsman"),
    (5986, "wsmans"),
    (6000, "X11"),
    (6001, "X11:1"),
    (6379, "redis"),
    (6443, "sun-sr-https"),
    (6667, "irc"),
    (7001, "afs3-callback"),
    (7070, "realserver"),
    (7443, "oracleas-https"),
    (8000, "http-alt"),
    (8008, "http"),
    (8009, "ajp13"),
    (8080, "http-proxy"),
    (8081, "blackice-icecap"),
    (8086, "d-s-n"),
    (8088, "radan-http"),
    (8443, "https-alt"),
    (8888, "sun-answerbook"),
    (9000, "cslistener"),
    (9090, "zeus-admin"),
    (9092, "XmlIpcRegSvc"),
    (9100, "jetdirect"),
    (9200, "wap-wsp"),
    (9418, "git"),
    (9999, "abyss"),
    (10000, "snet-sensor-mgmt"),
    (11211, "memcache"),
    (25565, "minecraft"),
    (27017, "mongod"),
    (32768, "filenet-tms"),
    (50000, "ibm-db2"),
];

/// The well-known service name for TCP `port`, if the built-in table has
/// one.
///
/// ```
/// use rawnet::port_names::tcp_service;
/// assert_eq!(tcp_service(22), Some("ssh"));
/// assert_eq!(tcp_service(5432), Some("postgresql"));
/// assert_eq!(tcp_service(40000), None);
/// ```
pub fn tcp_service(port: u16) -> Option<&'static str> {
    TCP_SERVICES
        .binary_search_by_key(&port, |&(p, _)| p)
        .ok()
        .map(|i| TCP_SERVICES[i].1)
}

/// Every port the table names `name` (ASCII case ignored), ascending:
/// what `-p http,ssh` means.
///
/// ```
/// use rawnet::port_names::tcp_ports_named;
/// assert_eq!(tcp_ports_named("ssh").collect::<Vec<_>>(), [22]);
/// assert_eq!(tcp_ports_named("HTTPS").collect::<Vec<_>>(), [443]);
/// assert_eq!(tcp_ports_named("no-such-service").count(), 0);
/// ```
pub fn tcp_ports_named(name: &str) -> impl Iterator<Item = u16> + '_ {
    TCP_SERVICES
        .iter()
        .filter(move |(_, n)| n.eq_ignore_ascii_case(name))
        .map(|&(port, _)| port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_without_duplicates() {
        for table in [TCP_SERVICES, UDP_SERVICES] {
            for pair in table.windows(2) {
                assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
            }
        }
    }

    #[test]
    fn table_covers_the_common_ports() {
        assert!(TCP_SERVICES.len() >= 100);
        let expected = [
            (21, "ftp"),
            (22, "ssh"),
            (23, "telnet"),
            (25, "smtp"),
            (53, "domain"),
            (80, "http"),
            (110, "pop3"),
            (143, "imap"),
            (443, "https"),
            (445, "microsoft-ds"),
            (3306, "mysql"),
            (3389, "ms-wbt-server"),
            (5432, "postgresql"),
            (6379, "redis"),
            (8080, "http-proxy"),
            (8443, "https-alt"),
            (27017, "mongod"),
        ];
        for (port, name) in expected {
            assert_eq!(tcp_service(port), Some(name), "port {port}");
        }
    }

    #[test]
    fn names_are_printable_single_words() {
        for (port, name) in TCP_SERVICES {
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic()),
                "{port}: {name:?}"
            );
        }
    }

    #[test]
    fn unlisted_ports_have_no_name() {
        assert_eq!(tcp_service(0), None);
        assert_eq!(tcp_service(2), None);
        assert_eq!(tcp_service(6646), None);
        assert_eq!(tcp_service(65535), None);
    }
}
