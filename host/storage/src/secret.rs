//! Keeping secrets out of messages: an error from a store may quote a
//! request URL with a signature, an endpoint with a password, or a
//! credential echoed back by a server.

/// Environment variables whose values are secrets, in every cloud's chain.
const SECRET_VARIABLES: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
];

/// Query parameters that carry a signature or a token (S3 presigning, Azure SAS).
const SECRET_PARAMETERS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "sig",
    "signature",
    "token",
    "access_token",
    "code",
];

/// `text` with every secret it may hold replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for name in SECRET_VARIABLES {
        if let Ok(value) = std::env::var(name)
            && value.len() >= 4
        {
            out = out.replace(&value, "***");
        }
    }
    redact_url_parts(&out)
}

/// Replaces `user:password@` in URLs and the values of secret query parameters.
fn redact_url_parts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end =
            after.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')).unwrap_or(after.len());
        out.push_str(&redact_one_url(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn redact_one_url(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, tail) = url.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let Some(query_at) = tail.find('?') else { return authority + tail };
    let (path, query) = tail.split_at(query_at + 1);
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_PARAMETERS.contains(&key.to_ascii_lowercase().as_str()) => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{authority}{path}{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_signatures_in_urls_are_hidden() {
        let text = "GET https://user:hunter2@host/b/k?X-Amz-Signature=abc123&partNumber=2 failed";
        assert_eq!(redact_url_parts(text), "GET https://***@host/b/k?X-Amz-Signature=***&partNumber=2 failed");
        assert_eq!(redact_url_parts("s3://bucket/key"), "s3://bucket/key");
    }
}
