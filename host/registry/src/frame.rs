//! The Confluent wire format's framing: a zero magic byte, the schema id
//! as 4 big-endian bytes, then (for Protobuf) the message indexes, then
//! the body.

/// Why a message without a value (a tombstone) yields no row, in every format.
pub const TOMBSTONE: &str = "the message has no value (a tombstone)";

/// The framing's header for schema `id`: the magic byte and the id.
pub(crate) fn header(id: u32) -> [u8; 5] {
    let [a, b, c, d] = id.to_be_bytes();
    [0, a, b, c, d]
}

/// The schema id and what follows it, or why the value is not framed.
pub(crate) fn split(value: Option<&[u8]>) -> Result<(u32, &[u8]), String> {
    match value {
        None => Err(TOMBSTONE.into()),
        Some([0, a, b, c, d, rest @ ..]) => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        Some(_) => {
            Err("not in the Confluent wire format: it does not start with the magic byte 0 and a 4-byte schema id"
                .into())
        }
    }
}

/// Protobuf's message indexes (a zigzag varint count, then each index;
/// a count of 0 is the first message, `[0]`) and the body after them.
pub(crate) fn message_indexes(mut bytes: &[u8]) -> Result<(Vec<i64>, &[u8]), String> {
    let broken = |e: prost::DecodeError| format!("the message indexes do not decode: {e}");
    let count = zigzag(prost::encoding::decode_varint(&mut bytes).map_err(broken)?);
    if count == 0 {
        return Ok((vec![0], bytes));
    }
    if !(1..=64).contains(&count) {
        return Err(format!("the message indexes claim {count} entries"));
    }
    let indexes = (0..count)
        .map(|_| prost::encoding::decode_varint(&mut bytes).map(zigzag))
        .collect::<Result<Vec<i64>, _>>()
        .map_err(broken)?;
    Ok((indexes, bytes))
}

fn zigzag(n: u64) -> i64 {
    (n >> 1) as i64 ^ -((n & 1) as i64)
}
