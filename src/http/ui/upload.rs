//! `multipart/form-data` as a browser sends a form with a file: the parts by field name, each
//! with its file name if it is a file. Small forms only (the body is read whole, under the
//! resource's payload limit); no streaming.

use crate::error::AppError;
use actix_web::HttpRequest;

/// One part of a form.
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub body: Vec<u8>,
}

/// The parts of `body`, by the boundary in the request's `Content-Type`. A body that is not
/// multipart, or broken, is refused by field `field`.
pub fn parts(req: &HttpRequest, body: &[u8], field: &str) -> Result<Vec<Part>, AppError> {
    let refused = || AppError::invalid(field, "send the form with its file (multipart/form-data)");
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(refused)?;
    let mime: actix_web::mime::Mime = content_type.parse().map_err(|_| refused())?;
    if mime.essence_str() != "multipart/form-data" {
        return Err(refused());
    }
    let boundary = mime.get_param("boundary").ok_or_else(refused)?.as_str();
    let delimiter = format!("--{boundary}").into_bytes();
    let mut out = Vec::new();
    let mut pieces = split(body, &delimiter).into_iter();
    // What comes before the first delimiter is a preamble.
    pieces.next();
    for piece in pieces {
        if piece.starts_with(b"--") {
            break;
        }
        let piece = piece.strip_prefix(b"\r\n").unwrap_or(piece);
        let piece = piece.strip_suffix(b"\r\n").unwrap_or(piece);
        let at = find(piece, b"\r\n\r\n").ok_or_else(refused)?;
        let head = String::from_utf8_lossy(&piece[..at]);
        let disposition = head
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or_else(refused)?;
        let name = parameter(disposition, "name").ok_or_else(refused)?;
        out.push(Part {
            name,
            file_name: parameter(disposition, "filename"),
            body: piece[at + 4..].to_vec(),
        });
    }
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(at) = find(body, delimiter) {
        out.push(&body[..at]);
        body = &body[at + delimiter.len()..];
    }
    out.push(body);
    out
}

/// `name="value"` of a `Content-Disposition` line.
fn parameter(line: &str, key: &str) -> Option<String> {
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn reads_fields_and_files() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc\r\n--XY\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"june.csv\"\r\nContent-Type: text/csv\r\n\r\nuser,start,end\r\na,b,c\r\n\r\n--XY--\r\n";
        let req = TestRequest::default()
            .insert_header(("content-type", "multipart/form-data; boundary=XY"))
            .to_http_request();
        let parts = parts(&req, body, "roster").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "csrf_token");
        assert_eq!(parts[0].body, b"abc");
        assert_eq!(parts[1].file_name.as_deref(), Some("june.csv"));
        assert_eq!(parts[1].body, b"user,start,end\r\na,b,c\r\n");
    }
}
