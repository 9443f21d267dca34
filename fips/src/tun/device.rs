//! The TUN device through `tun-rs`: it opens `/dev/net/tun`, sets
//! `IFF_TUN | IFF_NO_PI` (and `IFF_VNET_HDR` with `TUNSETOFFLOAD` when
//! offload is asked for), and does the virtio-net work: TSO/USO
//! super-packets from the kernel are split into packets on read
//! (`recv_multiple`), and runs of one TCP or UDP flow are joined into
//! super-packets on write (`send_multiple`, wireguard-go's GRO). What is
//! ours: the name check with our error, and the batches the node loop
//! fills and drains.

use std::io::{self, IoSlice};

use tun_rs::{
    AsyncDevice, DeviceBuilder, ExpandBuffer, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN,
};

use super::TunError;

/// An open TUN device. Reads and writes whole IPv6 packets.
pub struct Tun {
    dev: AsyncDevice,
    name: String,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("vnet_hdr", &self.has_vnet_hdr())
            .finish()
    }
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name`. Must be called from
    /// within a tokio runtime.
    pub fn create(name: &str) -> Result<Tun, TunError> {
        Tun::open(name, false)
    }

    /// Like [`Tun::create`], with segmentation offload: the kernel may hand
    /// over 64 KiB TCP (and UDP GSO) super-packets, which
    /// [`Tun::recv_packets`] splits, and [`Tun::send_packets`] joins.
    pub fn create_with_offload(name: &str) -> Result<Tun, TunError> {
        Tun::open(name, true)
    }

    fn open(name: &str, offload: bool) -> Result<Tun, TunError> {
        // tun-rs checks the length too, but our error says what to do.
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.as_bytes().contains(&0) {
            return Err(TunError::BadName { name: name.into() });
        }
        let dev = DeviceBuilder::new()
            .name(name)
            .offload(offload)
            .build_async()
            .map_err(|source| open_error(name, offload, source))?;
        let name = dev
            .name()
            .map_err(|e| syscall(name, "ioctl(TUNGETIFF)", e))?;
        Ok(Tun { dev, name })
    }

    /// Whether reads and writes carry a virtio-net header (offload is on).
    pub fn has_vnet_hdr(&self) -> bool {
        self.dev.tcp_gso()
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's MTU as the kernel has it now.
    pub fn mtu(&self) -> io::Result<u16> {
        self.dev.mtu()
    }

    /// Waits for and reads one raw frame into `buf` (behind its virtio-net
    /// header when offload is on).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf).await
    }

    /// Reads one raw frame if one is queued, without waiting.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.try_recv(buf)
    }

    /// Writes one packet (behind a "no offload" header when the device
    /// has them), waiting if the device queue is full.
    pub async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        if !self.has_vnet_hdr() {
            return self.dev.send(packet).await;
        }
        let hdr = [0u8; VIRTIO_NET_HDR_LEN];
        let n = self
            .dev
            .send_vectored(&[IoSlice::new(&hdr), IoSlice::new(packet)])
            .await?;
        Ok(n.saturating_sub(VIRTIO_NET_HDR_LEN))
    }

    /// Waits for one read and splits it into `batch` (one packet without
    /// offload). Returns how many packets it holds.
    pub async fn recv_packets(&self, batch: &mut ReadBatch) -> io::Result<usize> {
        batch.count = 0;
        let n = self
            .dev
            .recv_multiple(&mut batch.read, &mut batch.bufs, &mut batch.sizes, 0)
            .await?;
        batch.count = n;
        Ok(n)
    }

    /// Like [`Tun::recv_packets`] without waiting (`WouldBlock` when empty).
    pub fn try_recv_packets(&self, batch: &mut ReadBatch) -> io::Result<usize> {
        batch.count = 0;
        let n =
            self.dev
                .try_recv_multiple(&mut batch.read, &mut batch.bufs, &mut batch.sizes, 0)?;
        batch.count = n;
        Ok(n)
    }

    /// Writes the packets of `batch`, runs of one flow joined when offload
    /// is on, and empties it. Returns how many joined super-packets went.
    pub async fn send_packets(&self, batch: &mut WriteBatch) -> io::Result<usize> {
        if batch.len == 0 {
            return Ok(0);
        }
        let bufs = &mut batch.bufs[..batch.len];
        let result = self
            .dev
            .send_multiple(&mut batch.gro, bufs, VIRTIO_NET_HDR_LEN)
            .await;
        let joined = if self.has_vnet_hdr() {
            super_packets(&batch.bufs[..batch.len])
        } else {
            0
        };
        batch.len = 0;
        result.map(|_| joined)
    }
}

/// Super-packets `send_multiple` wrote: a run is joined into its first
/// buffer, whose header then names a GSO type; every other buffer's header
/// stays as `WriteBatch::push` left it, zero.
fn super_packets(bufs: &[GroBuf]) -> usize {
    bufs.iter()
        .filter(|b| b.0.get(1).is_some_and(|&t| t != 0))
        .count()
}

/// A packet buffer tun-rs may join a run into. Its GRO joins a packet
/// only when the run's buffer reports room for the whole super-packet
/// (wireguard-go's rule, which avoids reallocating mid-batch); a plain
/// `Vec` would have to hold 64 KiB for each of the batch's 128 slots up
/// front. This one reports that room and grows on first use instead, then
/// keeps its capacity across batches.
#[derive(Default)]
pub(crate) struct GroBuf(pub(crate) Vec<u8>);

/// The most a joined frame can need: header room twice (tun-rs's check)
/// plus a 64 KiB IP packet.
const GRO_ROOM: usize = 2 * VIRTIO_NET_HDR_LEN + 65_535;

impl AsRef<[u8]> for GroBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for GroBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl ExpandBuffer for GroBuf {
    /// Always the 64 KiB room, never the Vec's own (which may be more
    /// after growing): tun-rs stops joining where this says, so this is
    /// also what keeps a super-packet under the IPv6 length limit.
    fn buf_capacity(&self) -> usize {
        GRO_ROOM
    }

    fn buf_resize(&mut self, new_len: usize, value: u8) {
        self.0.resize(new_len, value)
    }

    fn buf_extend_from_slice(&mut self, src: &[u8]) {
        self.0.extend_from_slice(src)
    }
}

/// Where one read lands: the raw frame and the packets cut from it.
pub struct ReadBatch {
    read: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
}

impl ReadBatch {
    /// Room for one 64 KiB read and [`IDEAL_BATCH_SIZE`] packets of `mtu`
    /// bytes: a super-packet of more segments (an MSS under ~512) is
    /// refused by tun-rs and dropped, like wireguard-go's.
    pub fn new(mtu: u16) -> ReadBatch {
        ReadBatch {
            read: vec![0; VIRTIO_NET_HDR_LEN + 65_535],
            bufs: vec![vec![0; usize::from(mtu)]; IDEAL_BATCH_SIZE],
            sizes: vec![0; IDEAL_BATCH_SIZE],
            count: 0,
        }
    }

    /// The packets of the last read.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.bufs[..self.count]
            .iter()
            .zip(&self.sizes)
            .map(|(b, &n)| &b[..n])
    }
}

/// Packets waiting to be written, each behind room for its header.
pub struct WriteBatch {
    pub(crate) bufs: Vec<GroBuf>,
    len: usize,
    gro: GROTable,
}

impl Default for WriteBatch {
    fn default() -> Self {
        WriteBatch::new()
    }
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        WriteBatch {
            bufs: (0..IDEAL_BATCH_SIZE).map(|_| GroBuf::default()).collect(),
            len: 0,
            gro: GROTable::new(),
        }
    }

    /// Queues a copy of `packet`; `false` when the batch is full (send it,
    /// then push again).
    pub fn push(&mut self, packet: &[u8]) -> bool {
        let Some(GroBuf(buf)) = self.bufs.get_mut(self.len) else {
            return false;
        };
        buf.clear();
        buf.resize(VIRTIO_NET_HDR_LEN, 0);
        buf.extend_from_slice(packet);
        self.len += 1;
        true
    }

    pub fn is_full(&self) -> bool {
        self.len == self.bufs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn open_error(name: &str, offload: bool, source: io::Error) -> TunError {
    match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => TunError::OpenDevice {
            path: "/dev/net/tun".into(),
            source,
        },
        _ if offload => syscall(name, "ioctl(TUNSETIFF/TUNSETOFFLOAD)", source),
        _ => syscall(name, "ioctl(TUNSETIFF)", source),
    }
}

fn syscall(name: &str, call: &'static str, source: io::Error) -> TunError {
    TunError::Syscall {
        name: name.into(),
        call,
        source,
    }
}
