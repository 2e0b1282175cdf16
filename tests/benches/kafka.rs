//! Kafka to Kafka, measured in one run on a real broker:
//! `cargo build --release -p quiver && cargo bench -p quiver-tests --bench kafka`.
//!
//! - messages per second of JSON clickstream messages through `enrich`,
//!   against the same pipeline with no plugin (1,000,000 messages waiting in
//!   4 partitions; the rate is taken between the first and the last output
//!   message, so start-up and the group join are left out);
//! - end-to-end latency (median, p99) at a steady 5,000 messages per second
//!   with 5, 50 and 200 ms of linger (the source's and the sink producer's):
//!   the output message's create time minus the input message's, per event,
//!   the input produced without linger, a second after the group join.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use quiver_pipeline::demo::clickstream;
use quiver_tests::kafka::{Broker, Outgoing, instance};
use quiver_tests::{plugins, quiver, quiver_command, write_pipeline};

const PRELOADED: usize = 1_000_000;
const RATE: usize = 5_000;
const STEADY_SECS: usize = 4;

fn main() {
    let kafka = instance();
    let dir = tempfile::tempdir().unwrap();
    println!("quiver Kafka benchmark (one run, broker and quiver on the same 2 cores)\n");
    let messages = json_clicks(PRELOADED);

    println!("throughput, {PRELOADED} JSON messages waiting in 4 partitions, linger 5 ms:");
    let mut rates = Vec::new();
    for (name, with_plugin) in [("no plugin", false), ("enrich", true)] {
        let (input, output) =
            (format!("tput-{name}-in").replace(' ', "-"), format!("tput-{name}-out").replace(' ', "-"));
        kafka.create_topic(&input, 4);
        kafka.create_topic(&output, 4);
        kafka.produce(&input, messages.iter().cloned());
        let text = pipeline(kafka, &input, &output, 5, with_plugin, true);
        let out = quiver(dir.path(), &["run", "--no-progress", write_pipeline(dir.path(), &text).to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let records = kafka.read_all(&output, false);
        let stamps: Vec<i64> = records.iter().filter_map(|r| r.timestamp).collect();
        let span = (stamps.iter().max().unwrap() - stamps.iter().min().unwrap()).max(1) as f64 / 1000.0;
        let rate = records.len() as f64 / span;
        println!("  {name:<10} {:>9.0} messages/s ({} messages out in {span:.2} s)", rate, records.len());
        rates.push(rate);
    }
    println!("  enrich / no plugin: {:.0}%\n", 100.0 * rates[1] / rates[0]);

    println!("end-to-end latency at {RATE} messages/s for {STEADY_SECS} s (output create time - input create time):");
    for linger in [5u64, 50, 200] {
        for (name, with_plugin) in [("no plugin", false), ("enrich", true)] {
            let tag = format!("lat-{linger}-{}", if with_plugin { "enrich" } else { "none" });
            let (input, output) = (format!("{tag}-in"), format!("{tag}-out"));
            kafka.create_topic(&input, 4);
            kafka.create_topic(&output, 4);
            let text = pipeline(kafka, &input, &output, linger, with_plugin, false);
            let path = dir.path().join(format!("{tag}.toml"));
            std::fs::write(&path, text).unwrap();
            let mut run = spawn(dir.path(), &path, &tag);
            wait_for_assignment(dir.path(), &tag);
            // Let the first fetches settle: the latency measured is the steady state's.
            std::thread::sleep(Duration::from_secs(1));
            produce_steadily(kafka, &input, RATE, STEADY_SECS);
            // Let the last batches through, then stop.
            std::thread::sleep(Duration::from_millis(linger + 1500));
            terminate(&mut run);
            let sent: HashMap<i64, i64> = kafka
                .read_all(&input, false)
                .iter()
                .map(|r| (event_id(r.value.as_deref().unwrap()), r.timestamp.unwrap()))
                .collect();
            let first_sent = sent.values().min().copied().unwrap_or_default();
            let mut latencies: Vec<(i64, i64)> = kafka
                .read_all(&output, false)
                .iter()
                .filter_map(|r| {
                    let at = *sent.get(&event_id(r.value.as_deref()?))?;
                    Some((r.timestamp? - at, at - first_sent))
                })
                .collect();
            let quantile = |values: &mut Vec<i64>, q: f64| {
                values.sort_unstable();
                values[((values.len() - 1) as f64 * q) as usize]
            };
            let mut all: Vec<i64> = latencies.iter().map(|(l, _)| *l).collect();
            // The first second holds the start-up stall (first fetches, the sink's first produce): shown apart.
            latencies.retain(|(_, since)| *since >= 1000);
            let mut steady: Vec<i64> = latencies.iter().map(|(l, _)| *l).collect();
            println!(
                "  linger {linger:>3} ms  {name:<10} median {:>4} ms  p99 {:>4} ms  (after the first second: p99 {:>4} ms)  {} of {} messages",
                quantile(&mut all, 0.5),
                quantile(&mut all, 0.99),
                quantile(&mut steady, 0.99),
                all.len(),
                sent.len()
            );
        }
    }
}

fn pipeline(kafka: &Broker, input: &str, output: &str, linger_ms: u64, with_plugin: bool, stop_at_end: bool) -> String {
    let transform = if with_plugin {
        format!("[[transform]]\nplugin = \"{}\"\ntransform = \"enrich\"\n", plugins::ENRICH)
    } else {
        String::new()
    };
    format!(
        r#"
[source]
type = "kafka"
bootstrap_servers = "{b}"
topics = ["{input}"]
group_id = "bench-{input}"
format = "json"
batch_rows = 10000
linger_ms = {linger_ms}
stop_at_end = {stop_at_end}
schema = [
  {{ name = "event_id", type = "Int64", nullable = false }},
  {{ name = "user_id", type = "Int64", nullable = false }},
  {{ name = "ts", type = "Timestamp(ms)" }},
  {{ name = "url", type = "Utf8" }},
  {{ name = "referrer", type = "Utf8" }},
  {{ name = "duration_ms", type = "Int32" }},
  {{ name = "country", type = "Utf8" }},
]

{transform}
[sink]
type = "kafka"
bootstrap_servers = "{b}"
topic = "{output}"
key_column = "user_id"
properties = {{ "linger.ms" = {linger_ms} }}

[dead_letter]
type = "kafka"
bootstrap_servers = "{b}"
topic = "{output}"

[pipeline]
commit_interval_ms = 1000
"#,
        b = kafka.bootstrap()
    )
}

/// The demo clickstream as JSON messages keyed by user.
fn json_clicks(n: usize) -> Vec<Outgoing> {
    let mut out = Vec::with_capacity(n);
    let mut first = 0;
    while first < n {
        let batch = clickstream(first as u64, 10_000.min(n - first));
        let mut buffer = Vec::new();
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        for line in buffer.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let key = serde_json::from_slice::<serde_json::Value>(line).unwrap()["user_id"].to_string();
            out.push((Some(key.into_bytes()), Some(line.to_vec()), Vec::new()));
        }
        first += batch.num_rows();
    }
    out
}

fn event_id(value: &[u8]) -> i64 {
    serde_json::from_slice::<serde_json::Value>(value).unwrap()["event_id"].as_i64().unwrap()
}

/// `rate` messages a second for `secs` seconds, in 10 ms steps.
fn produce_steadily(kafka: &Broker, topic: &str, rate: usize, secs: usize) {
    let messages = json_clicks(rate * secs);
    // No linger on the input side: its create time is when it leaves.
    let producer = kafka.producer(0);
    let per_step = rate / 100;
    let started = Instant::now();
    for (step, chunk) in messages.chunks(per_step).enumerate() {
        let due = started + Duration::from_millis(step as u64 * 10);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for (key, value, _) in chunk {
            let record = rdkafka::producer::BaseRecord::to(topic)
                .key(key.as_deref().unwrap())
                .payload(value.as_deref().unwrap());
            rdkafka::producer::ThreadedProducer::send(&producer, record).map_err(|(e, _)| e).unwrap();
        }
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).unwrap();
}

fn spawn(dir: &Path, pipeline: &Path, tag: &str) -> Child {
    quiver_command(dir, &["run", "--no-progress", pipeline.to_str().unwrap()])
        .env("QUIVER_LOG", "info")
        .stderr(std::fs::File::create(dir.join(format!("{tag}.err"))).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for_assignment(dir: &Path, tag: &str) {
    let started = Instant::now();
    while !std::fs::read_to_string(dir.join(format!("{tag}.err"))).unwrap_or_default().contains("partitions assigned") {
        assert!(started.elapsed() < Duration::from_secs(60), "quiver did not join the group");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn terminate(child: &mut Child) {
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
}
