//! Open connections per client address, bounded on both listeners: a
//! client past `max_connections_per_client` has its new connection closed
//! at once, so one client cannot hold every socket and task of the server.
//! A connection counts until it closes.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The open connections of each client address.
pub struct ConnectionLimit {
    per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionLimit {
    /// At most `per_client` open connections per client address.
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self { per_client, open: Mutex::default() })
    }

    /// `stream` counted against its client, or refused (and closed when
    /// dropped) when the client already holds its share; `listener` names
    /// the listener in the warning.
    pub fn admit(self: &Arc<Self>, stream: TcpStream, listener: &str) -> io::Result<Counted> {
        let peer = stream.peer_addr()?.ip();
        let mut open = self.open.lock().expect("connections lock");
        let count = open.entry(peer).or_default();
        if *count >= self.per_client {
            tracing::warn!(
                client = %peer,
                listener,
                "refused a connection: the client has {count} open, max_connections_per_client is {}",
                self.per_client
            );
            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "too many connections from this client"));
        }
        *count += 1;
        drop(open);
        // Small replies must not wait for the client's delayed ACK.
        stream.set_nodelay(true)?;
        Ok(Counted { stream, peer, limit: self.clone() })
    }

    /// Open connections of `peer` now.
    #[cfg(test)]
    fn open(&self, peer: IpAddr) -> usize {
        self.open.lock().expect("connections lock").get(&peer).copied().unwrap_or(0)
    }
}

/// An admitted connection; it gives its place back when it closes.
pub struct Counted {
    stream: TcpStream,
    peer: IpAddr,
    limit: Arc<ConnectionLimit>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().expect("connections lock");
        if let Some(count) = open.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Counted {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

/// The HTTP listener's acceptor: counts each connection against its client.
#[derive(Clone)]
pub struct Acceptor(pub Arc<ConnectionLimit>);

impl<S: Send + 'static> axum_server::accept::Accept<TcpStream, S> for Acceptor {
    type Stream = Counted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(self.0.admit(stream, "http").map(|counted| (counted, service)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn accept(
        listener: &tokio::net::TcpListener,
        limit: &Arc<ConnectionLimit>,
        clients: &mut Vec<TcpStream>,
    ) -> io::Result<Counted> {
        clients.push(TcpStream::connect(listener.local_addr().unwrap()).await.unwrap());
        let (stream, _) = listener.accept().await.unwrap();
        limit.admit(stream, "test")
    }

    #[tokio::test]
    async fn a_client_gets_its_share_of_connections_and_each_close_gives_one_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let loopback = listener.local_addr().unwrap().ip();
        let limit = ConnectionLimit::new(2);
        let mut clients = Vec::new();
        let first = accept(&listener, &limit, &mut clients).await.unwrap();
        let second = accept(&listener, &limit, &mut clients).await.unwrap();
        assert!(accept(&listener, &limit, &mut clients).await.is_err(), "a third connection is refused");
        assert_eq!(limit.open(loopback), 2);
        drop(first);
        assert_eq!(limit.open(loopback), 1);
        let third = accept(&listener, &limit, &mut clients).await.unwrap();
        drop((second, third));
        assert_eq!(limit.open(loopback), 0);
    }
}
