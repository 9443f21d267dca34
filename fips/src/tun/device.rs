//! The TUN device through `tun-rs`: it opens `/dev/net/tun`, sets
//! `IFF_TUN | IFF_NO_PI` (and `IFF_VNET_HDR` with `TUNSETOFFLOAD` when
//! offload is asked for), reads and writes, and does the virtio-net work:
//! TSO/USO super-packets from the kernel are cut into packets by its
//! `gso_split` (behind our check, `tun::offload`), and runs of one TCP or
//! UDP flow are joined into super-packets on write (`send_multiple`,
//! wireguard-go's GRO). What is ours: the name check with our error, and
//! the batches the node loop fills and drains, sized to what they hold.

use std::io::{self, IoSlice};
use std::ops::Range;

use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use super::gro_buf::BigPool;
pub(crate) use super::gro_buf::GroBuf;
use super::offload::{self, Segments, Split};
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
    /// offload). Returns how many packets it holds. A read that cannot be
    /// cut is an `InvalidData` error (no OS error code) naming why.
    pub async fn recv_packets(&self, batch: &mut ReadBatch) -> io::Result<usize> {
        batch.clear();
        let n = self.dev.recv(&mut batch.read).await?;
        batch.cut(n, self.has_vnet_hdr())
    }

    /// Like [`Tun::recv_packets`] without waiting (`WouldBlock` when empty).
    pub fn try_recv_packets(&self, batch: &mut ReadBatch) -> io::Result<usize> {
        batch.clear();
        let n = self.dev.try_recv(&mut batch.read)?;
        batch.cut(n, self.has_vnet_hdr())
    }

    /// Writes the packets of `batch`, runs of one flow joined when offload
    /// is on, and empties it.
    pub async fn send_packets(&self, batch: &mut WriteBatch) -> io::Result<Written> {
        if batch.len == 0 {
            return Ok(Written::default());
        }
        let bufs = &mut batch.bufs[..batch.len];
        let result = self
            .dev
            .send_multiple(&mut batch.gro, bufs, VIRTIO_NET_HDR_LEN)
            .await;
        let written = batch.finish(self.has_vnet_hdr());
        result.map(|bytes| Written { bytes, ..written })
    }
}

/// What one [`Tun::send_packets`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Writes to the device: one per super-packet or packet left alone.
    pub frames: usize,
    /// Frames that are joined super-packets.
    pub super_packets: usize,
    /// Bytes the device took, headers included.
    pub bytes: usize,
}

impl Written {
    /// Counted from what `send_multiple` left: a run is joined into its
    /// first buffer, whose header then names a GSO type and the segment
    /// size; the run's other buffers, skipped, are the packets it splits
    /// back into. Every other buffer's header stays zero.
    fn of(bufs: &[GroBuf]) -> Written {
        let (mut super_packets, mut folded) = (0, 0);
        for n in bufs
            .iter()
            .map(|b| packets_in(b.bytes()))
            .filter(|&n| n > 0)
        {
            super_packets += 1;
            folded += n - 1;
        }
        Written {
            frames: bufs.len() - folded,
            super_packets,
            bytes: 0,
        }
    }
}

/// How many packets the joined frame `frame` (header + packet) holds; 0
/// when it is not a super-packet.
fn packets_in(frame: &[u8]) -> usize {
    match offload::parse_header(frame) {
        Ok(h) if h.gso_type != offload::GSO_NONE && h.gso_size > 0 => {
            let headers = VIRTIO_NET_HDR_LEN + usize::from(h.hdr_len);
            let payload = frame.len().saturating_sub(headers);
            payload.div_ceil(usize::from(h.gso_size)).max(1)
        }
        _ => 0,
    }
}

/// Where one read lands: the raw frame, and the packets cut from it when
/// it was a super-packet (a single packet is read in place).
pub struct ReadBatch {
    read: Vec<u8>,
    mtu: usize,
    held: Held,
    segments: Segments,
    gso: bool,
}

/// What the last read left in a [`ReadBatch`].
enum Held {
    Nothing,
    /// One packet, at this range of the read.
    Whole(Range<usize>),
    /// The packets in `segments`.
    Segments,
}

impl ReadBatch {
    /// Room for one 64 KiB read, cut into packets of at most `mtu` bytes
    /// (more than [`offload::MAX_SEGMENTS`] of them, an MSS under ~512,
    /// is refused and dropped, like wireguard-go's). The buffers for the
    /// cut packets grow to what the largest super-packet needed.
    pub fn new(mtu: u16) -> ReadBatch {
        ReadBatch {
            read: vec![0; VIRTIO_NET_HDR_LEN + 65_535],
            mtu: usize::from(mtu),
            held: Held::Nothing,
            segments: Segments::default(),
            gso: false,
        }
    }

    /// The packets of the last read.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let (whole, segments) = match &self.held {
            Held::Nothing => (None, None),
            Held::Whole(r) => (Some(&self.read[r.clone()]), None),
            Held::Segments => (None, Some(self.segments.iter())),
        };
        whole.into_iter().chain(segments.into_iter().flatten())
    }

    /// Whether the last read was a super-packet (its header named a GSO
    /// type), whatever number of packets it was cut into.
    pub fn was_super_packet(&self) -> bool {
        self.gso
    }

    fn clear(&mut self) {
        self.held = Held::Nothing;
        self.gso = false;
    }

    /// Cuts the `n` bytes read: with offload, by their header.
    fn cut(&mut self, n: usize, vnet_hdr: bool) -> io::Result<usize> {
        if !vnet_hdr {
            self.held = Held::Whole(0..n);
            return Ok(1);
        }
        let read = &mut self.read[..n];
        self.gso = offload::parse_header(read).is_ok_and(|h| h.gso_type != offload::GSO_NONE);
        let split = offload::split(read, self.mtu, &mut self.segments);
        match split.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
            Split::Whole => {
                self.held = Held::Whole(VIRTIO_NET_HDR_LEN..n);
                Ok(1)
            }
            Split::Segments(count) => {
                self.held = Held::Segments;
                Ok(count)
            }
        }
    }
}

/// Packets waiting to be written, each behind room for its header.
pub struct WriteBatch {
    bufs: Vec<GroBuf>,
    len: usize,
    gro: GROTable,
    /// Kept here only to be measured by tests; the slots share it.
    #[cfg_attr(not(test), allow(dead_code))]
    pool: BigPool,
}

impl Default for WriteBatch {
    fn default() -> Self {
        WriteBatch::new()
    }
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        let pool = BigPool::default();
        WriteBatch {
            bufs: (0..IDEAL_BATCH_SIZE)
                .map(|_| GroBuf::new(pool.clone()))
                .collect(),
            len: 0,
            gro: GROTable::new(),
            pool,
        }
    }

    /// Queues a copy of `packet`; `false` when the batch is full (send it,
    /// then push again).
    pub fn push(&mut self, packet: &[u8]) -> bool {
        let Some(buf) = self.bufs.get_mut(self.len) else {
            return false;
        };
        buf.fill(VIRTIO_NET_HDR_LEN, packet);
        self.len += 1;
        true
    }

    pub fn is_full(&self) -> bool {
        self.len == self.bufs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// After a write: what went, big buffers back to the pool, empty.
    fn finish(&mut self, joined: bool) -> Written {
        let bufs = &mut self.bufs[..self.len];
        let written = if joined {
            Written::of(bufs)
        } else {
            Written {
                frames: bufs.len(),
                ..Written::default()
            }
        };
        bufs.iter_mut().for_each(GroBuf::recycle);
        self.len = 0;
        written
    }

    /// What `send_packets` does on an offloading device, but the write:
    /// the GRO and the recycling.
    #[cfg(test)]
    pub(crate) fn join_without_device(&mut self) -> io::Result<Written> {
        let bufs = &mut self.bufs[..self.len];
        self.gro.apply_gro(bufs, VIRTIO_NET_HDR_LEN, false)?;
        Ok(self.finish(true))
    }

    /// Bytes the batch holds allocated now (its slots and the pool).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        let slots: usize = self.bufs.iter().map(|b| b.capacity()).sum();
        slots + self.pool.kept() * super::gro_buf::GRO_ROOM
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
