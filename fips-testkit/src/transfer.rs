//! A TCP transfer from one namespace to another, checked by length and
//! SHA-256: python3 listens on one end and sends on the other, so the
//! bytes cross the real stack (TUN, offloads, the mesh) both ways.

use std::process::{Output, Stdio};
use std::time::Duration;

use crate::netns::{output, NetNs};

/// What a transfer did: the sender's exit, and `count sha256` as the
/// receiver printed it and as it should read.
pub struct Transfer {
    pub client: Output,
    pub received: String,
    pub expected: String,
}

impl Transfer {
    /// The sender's stderr.
    pub fn client_stderr(&self) -> String {
        String::from_utf8_lossy(&self.client.stderr).into_owned()
    }
}

/// Sends `data` (a Python bytes expression) from `from` to `[to]:5001`
/// over TCP, to a one-connection receiver in `to_ns` bound to `bind`.
/// Each end gives up after 60 s; the sender retries while the receiver
/// is not listening yet (python starts slowly).
pub fn tcp_transfer(from: &NetNs, to_ns: &NetNs, bind: &str, to: &str, data: &str) -> Transfer {
    let server = to_ns
        .command("python3")
        .arg("-c")
        .arg(format!(
            "import socket,hashlib\n\
             s=socket.socket(socket.AF_INET6);s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             s.bind(('{bind}',5001));s.listen(1);s.settimeout(60);c,_=s.accept();h=hashlib.sha256();n=0\n\
             while True:\n d=c.recv(65536)\n if not d: break\n h.update(d);n+=len(d)\n\
             print(n,h.hexdigest(),flush=True)"
        ))
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    std::thread::sleep(Duration::from_millis(500));
    let client = output(from.command("timeout").args(["60", "python3", "-c"]).arg(format!(
        "import socket,time\n\
         for _ in range(100):\n try:\n  s=socket.create_connection(('{to}',5001),timeout=30);break\n except ConnectionRefusedError:\n  time.sleep(0.1)\n\
         s.sendall({data});s.close()"
    )));
    let got = server.wait_with_output().expect("server");
    let want = output(std::process::Command::new("python3").arg("-c").arg(format!(
        "import hashlib;d={data};print(len(d),hashlib.sha256(d).hexdigest())"
    )));
    Transfer {
        client,
        received: String::from_utf8_lossy(&got.stdout).into_owned(),
        expected: String::from_utf8_lossy(&want.stdout).into_owned(),
    }
}
