//! A minimal HTTP/1.1 server and keep-alive client over tokio TCP (requests and responses with
//! `Content-Length` bodies only; `httparse` does the parsing). Enough for curl and for the
//! nodes' own RPCs; not a general-purpose HTTP stack.

use std::future::Future;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest accepted body (the largest Raft message: a snapshot chunk or an entry batch).
const MAX_BODY: usize = 64 << 20;
const MAX_HEAD: usize = 16 << 10;

pub struct Request {
    pub method: String,
    pub path: String,
    pub forwarded: bool,
    pub body: Vec<u8>,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn binary(body: Vec<u8>) -> Self {
        Response {
            status: 200,
            content_type: "application/octet-stream",
            body,
        }
    }

    pub fn json(body: String) -> Self {
        Response {
            status: 200,
            content_type: "application/json",
            body: body.into_bytes(),
        }
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Reads one message head + body from `stream` into `buf` (which may hold bytes of the next
/// message afterwards). `parse` returns the head length and the headers it cares about.
async fn read_message<T>(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    parse: impl Fn(&[u8]) -> io::Result<Option<(usize, usize, T)>>,
) -> io::Result<Option<(T, Vec<u8>)>> {
    loop {
        if let Some((head, len, t)) = parse(buf)? {
            if len > MAX_BODY {
                return Err(bad("body too large"));
            }
            while buf.len() < head + len {
                let mut chunk = [0u8; 64 << 10];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(bad("connection closed mid-body"));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head..head + len].to_vec();
            buf.drain(..head + len);
            return Ok(Some((t, body)));
        }
        if buf.len() > MAX_HEAD {
            return Err(bad("head too large"));
        }
        let mut chunk = [0u8; 16 << 10];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(bad("connection closed mid-head"))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn content_length(headers: &[httparse::Header<'_>]) -> io::Result<usize> {
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let s = std::str::from_utf8(h.value).map_err(|_| bad("content-length"))?;
            return s.trim().parse().map_err(|_| bad("content-length"));
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked bodies are not supported"));
        }
    }
    Ok(0)
}

type Head = (String, String, bool);

fn parse_request(buf: &[u8]) -> io::Result<Option<(usize, usize, Head)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf).map_err(|e| bad(e.to_string()))? {
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(head) => {
            let len = content_length(req.headers)?;
            let forwarded = req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("x-forwarded-by"));
            let method = req.method.unwrap_or("GET").to_string();
            let path = req.path.unwrap_or("/").to_string();
            Ok(Some((head, len, (method, path, forwarded))))
        }
    }
}

/// Serves `listener` forever, one task per connection, calling `handle` per request.
pub async fn serve<H, F>(listener: TcpListener, handle: Arc<H>)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Ok(Some(((method, path, forwarded), body))) =
                read_message(&mut stream, &mut buf, parse_request).await
            {
                let resp = handle(Request {
                    method,
                    path,
                    forwarded,
                    body,
                })
                .await;
                let head = format!(
                    "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                    resp.status,
                    reason(resp.status),
                    resp.content_type,
                    resp.body.len()
                );
                let mut out = head.into_bytes();
                out.extend_from_slice(&resp.body);
                if stream.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// A keep-alive client connection to one address, reconnecting after errors.
pub struct Client {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

fn parse_response(buf: &[u8]) -> io::Result<Option<(usize, usize, u16)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf).map_err(|e| bad(e.to_string()))? {
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(head) => {
            let len = content_length(resp.headers)?;
            Ok(Some((head, len, resp.code.unwrap_or(500))))
        }
    }
}

impl Client {
    pub fn new(addr: impl Into<String>) -> Self {
        Client {
            addr: addr.into(),
            stream: None,
            buf: Vec::new(),
        }
    }

    /// Sends one request and returns the status and body.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        forwarded_by: Option<u64>,
        body: &[u8],
    ) -> io::Result<(u16, Vec<u8>)> {
        let r = self.try_call(method, path, forwarded_by, body).await;
        if r.is_err() {
            self.stream = None;
            self.buf.clear();
        }
        r
    }

    async fn try_call(
        &mut self,
        method: &str,
        path: &str,
        forwarded_by: Option<u64>,
        body: &[u8],
    ) -> io::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(bad("not connected"));
        };
        let fwd = forwarded_by.map_or(String::new(), |id| format!("X-Forwarded-By: {id}\r\n"));
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{fwd}Content-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        stream.write_all(&out).await?;
        match read_message(stream, &mut self.buf, parse_response).await? {
            Some((status, body)) => Ok((status, body)),
            None => Err(bad("connection closed")),
        }
    }
}
