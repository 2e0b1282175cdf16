//! Trying one capability from inside the sandbox, and saying what happened.
//! A capability that was not granted must fail here, in the plugin, with an
//! error the plugin can read.

use std::io::{Read, Write};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, OutgoingRequest, Scheme};

/// `ok: ...` with what was read, or `denied: ...` with the error.
pub fn run(what: &str, target: &str) -> String {
    let result = match what {
        "file" => {
            std::fs::read_to_string(target).map(|text| text.chars().take(200).collect()).map_err(|e| e.to_string())
        }
        "write-file" => {
            std::fs::write(target, b"written by a plugin").map(|()| "written".into()).map_err(|e| e.to_string())
        }
        "env" => std::env::var(target).map_err(|e| e.to_string()),
        "socket" => socket(target),
        "http" => http(target),
        other => Err(format!("unknown probe `{other}`")),
    };
    match result {
        Ok(text) => format!("ok: {text}"),
        Err(e) => format!("denied: {e}"),
    }
}

fn socket(address: &str) -> Result<String, String> {
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    Ok(reply.lines().next().unwrap_or_default().to_string())
}

/// A GET of `authority/path` over plain HTTP through `wasi:http`; `status body`.
fn http(target: &str) -> Result<String, String> {
    let (authority, path) = match target.split_once('/') {
        Some((authority, path)) => (authority, format!("/{path}")),
        None => (target, "/".to_string()),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&Scheme::Http)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| format!("bad authority {authority}"))?;
    request.set_path_with_query(Some(&path)).map_err(|()| format!("bad path {path}"))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response =
        pending.get().ok_or("no response")?.map_err(|()| "response taken twice")?.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => bytes.extend(chunk),
            Err(_) => break,
        }
    }
    drop(stream);
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}
