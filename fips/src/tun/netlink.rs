//! Configures the TUN interface over rtnetlink (no `ip` commands).

use std::net::Ipv6Addr;

use rtnetlink::packet_route::rule::RuleAction;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use super::TunError;

/// The mesh's address space.
const FIPS_PREFIX: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0);
const FIPS_PREFIX_LEN: u8 = 8;
/// The reference's rule priority: above rules that VPN clients add, so
/// fd00::/8 is looked up in the main table where our route lives.
const RULE_PRIORITY: u32 = 5265;
const MAIN_TABLE: u32 = 254;

/// What to put on the interface.
#[derive(Debug, Clone, Copy)]
pub struct TunSetup {
    pub addr: Ipv6Addr,
    pub mtu: u16,
}

/// Assigns the address (/128), MTU, fd00::/8 route and rule, and brings
/// the link up. Runs its own netlink connection on the current runtime.
pub async fn configure(name: &str, setup: TunSetup) -> Result<(), TunError> {
    enable_ipv6(name)?;
    let index = if_index(name)?;
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| TunError::Syscall {
        name: name.into(),
        call: "socket(NETLINK_ROUTE)",
        source: e,
    })?;
    let conn_task = tokio::spawn(conn);
    let result = apply(&handle, name, index, setup).await;
    conn_task.abort();
    result
}

async fn apply(handle: &Handle, name: &str, index: u32, setup: TunSetup) -> Result<(), TunError> {
    let nl = |action| {
        move |source| TunError::Netlink {
            name: name.into(),
            action,
            source,
        }
    };
    handle
        .link()
        .change(
            LinkUnspec::new_with_index(index)
                .mtu(u32::from(setup.mtu))
                .build(),
        )
        .execute()
        .await
        .map_err(nl("set mtu"))?;
    handle
        .address()
        .add(index, setup.addr.into(), 128)
        .replace()
        .execute()
        .await
        .map_err(nl("add address"))?;
    handle
        .link()
        .change(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(nl("set link up"))?;
    let route = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(FIPS_PREFIX, FIPS_PREFIX_LEN)
        .output_interface(index)
        .build();
    handle
        .route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(nl("add fd00::/8 route"))?;
    add_rule(handle, name).await;
    wait_usable(handle, name, setup.addr).await;
    Ok(())
}

/// Waits (briefly) until the kernel accepts packets for our address: a
/// route lookup for it says "local". A TUN device skips duplicate address
/// detection, but the kernel still finishes adding the address from a work
/// queue a moment later; packets arriving before that are dropped.
async fn wait_usable(handle: &Handle, name: &str, addr: Ipv6Addr) {
    use futures::TryStreamExt;
    use rtnetlink::packet_route::route::RouteType;
    for _ in 0..200 {
        let query = RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(addr, 128)
            .build();
        let mut replies = handle.route().get(query).execute();
        if let Ok(Some(route)) = replies.try_next().await {
            if route.header.kind == RouteType::Local {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tracing::warn!(device = name, %addr, "address not usable after 2 s");
}

/// The rule only matters when other rules would steer fd00::/8 elsewhere;
/// failing to add it (e.g. it exists) is not fatal.
async fn add_rule(handle: &Handle, name: &str) {
    let result = handle
        .rule()
        .add()
        .v6()
        .destination_prefix(FIPS_PREFIX, FIPS_PREFIX_LEN)
        .table_id(MAIN_TABLE)
        .priority(RULE_PRIORITY)
        .action(RuleAction::ToTable)
        .execute()
        .await;
    if let Err(e) = result {
        tracing::debug!(device = name, error = %e, "fd00::/8 policy rule not added");
    }
}

fn if_index(name: &str) -> Result<u32, TunError> {
    let c_name =
        std::ffi::CString::new(name).map_err(|_| TunError::BadName { name: name.into() })?;
    // SAFETY: c_name is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(TunError::Syscall {
            name: name.into(),
            call: "if_nametoindex",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(index)
}

/// Containers often start with IPv6 disabled on new interfaces; turn it
/// on for ours, since the device carries only IPv6.
fn enable_ipv6(name: &str) -> Result<(), TunError> {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::read_to_string(&path) {
        Ok(v) if v.trim() == "0" => Ok(()),
        Ok(_) => std::fs::write(&path, "0").map_err(|source| TunError::Ipv6Disabled {
            name: name.into(),
            source,
        }),
        // No IPv6 sysctl tree at all: the kernel has IPv6 off entirely.
        Err(source) => Err(TunError::Ipv6Disabled {
            name: name.into(),
            source,
        }),
    }
}
