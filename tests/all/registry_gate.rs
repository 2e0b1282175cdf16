//! The registry behind TLS and basic auth, as in production: Avro from
//! Kafka whose schemas Quiver asks through nginx (a certificate from a
//! private authority, one user), with the secret only in the environment
//! and never in what the run prints; the wrong secret, no secret, and no
//! trust in the authority each stop the run before a message moves.

use quiver_tests::kafka::broker;
use quiver_tests::registry::gate::{PASSWORD, USER, gate};
use quiver_tests::registry::registry;
use quiver_tests::{describe, quiver_command, read_parquet_dir, write_pipeline};

const CREDENTIAL: &str = "QUIVER_TEST_REGISTRY_CREDENTIAL";

#[test]
fn through_tls_and_basic_auth_with_the_secret_in_the_environment_only() {
    let kafka = broker();
    let registry = registry();
    let gate = gate();
    let topic = "avro-gated";
    kafka.create_topic(topic, 2);
    registry.produce("avro_produce.py", topic, (0, 300), 1, &[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pipeline = |group: &str, registry: &str| {
        format!(
            "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"{group}\"\n\
             format = \"avro\"\nstop_at_end = true\n\n[source.registry]\nurl = \"{}\"\n{registry}\n\
             [sink]\nformat = \"parquet\"\npath = \"out/\"\n",
            kafka.bootstrap(),
            gate.url()
        )
    };
    let ca = format!("ca_file = {:?}\n", gate.ca_file().display().to_string());
    let signed_in = format!("{ca}credential_env = \"{CREDENTIAL}\"\n");
    let run = |text: &str, credential: Option<&str>| {
        let file = write_pipeline(d, text);
        let mut command = quiver_command(d, &["run", "--no-progress", file.to_str().unwrap()]);
        command.env("QUIVER_LOG", "debug").env_remove(CREDENTIAL);
        if let Some(credential) = credential {
            command.env(CREDENTIAL, credential);
        }
        command.output().unwrap()
    };

    let out = run(&pipeline("gated", &signed_in), Some(&format!("{USER}:{PASSWORD}")));
    assert!(out.status.success(), "{}\n--- gate\n{}", describe(&out), gate.access_log());
    assert_eq!(read_parquet_dir(&d.join("out")).num_rows(), 300);
    let said = describe(&out);
    assert!(!said.contains(PASSWORD) && !said.contains("s3cr3t"), "the secret is never printed: {said}");
    assert!(gate.access_log().contains(USER), "the gate let the user through: {}", gate.access_log());
    std::fs::remove_dir_all(d.join("out")).unwrap();

    let refused = |out: std::process::Output, wanted: &[&str], secret: &str| {
        let said = describe(&out);
        assert!(!out.status.success(), "{said}");
        for w in wanted {
            assert!(said.contains(w), "wanted {w:?} in:\n{said}");
        }
        assert!(!said.contains(secret), "the secret is never printed: {said}");
        assert!(!d.join("out").exists(), "nothing is written");
    };
    let wrong = "quiver-reader:not-the-pässword";
    refused(
        run(&pipeline("wrong", &signed_in), Some(wrong)),
        &["refused the credentials (401)", CREDENTIAL, USER],
        wrong,
    );
    refused(run(&pipeline("none", &ca), None), &["refused the credentials (401)", "set credential_env"], PASSWORD);
    refused(run(&pipeline("unset", &signed_in), None), &["credential_env", CREDENTIAL, "not set"], PASSWORD);
    let untrusted = format!("credential_env = \"{CREDENTIAL}\"\n");
    refused(
        run(&pipeline("untrusted", &untrusted), Some(&format!("{USER}:{PASSWORD}"))),
        &[&gate.url(), "cannot be reached", "ca_file"],
        PASSWORD,
    );
}
