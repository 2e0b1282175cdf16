//! Input that already is Arrow IPC (a Flight stream, a Kafka message)
//! reaches the plugin untouched through `process-ipc`, with the same result
//! as the buffer path.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use quiver_pipeline::demo::clickstream;
use quiver_runtime::{Limits, Runtime, RuntimeOptions};
use quiver_tests::{one_instance_pool, plugins};

#[test]
fn an_ipc_stream_gives_the_same_output_and_rejections_as_buffers() {
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    let input = clickstream(0, 5_000);
    let pool = one_instance_pool(&runtime, plugins::ENRICH, None, &input, Limits::default());

    let mut writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &input.schema()).unwrap();
    // Two record batches in one stream: rejection rows count across them.
    writer.write(&input.slice(0, 2_000)).unwrap();
    writer.write(&input.slice(2_000, 3_000)).unwrap();
    writer.finish().unwrap();
    let ipc = writer.into_inner().unwrap();

    let mut instance = pool.get().unwrap();
    let by_buffers = instance.process(&input).unwrap();
    let by_ipc = instance.process_ipc(&ipc, input.num_rows()).unwrap();
    assert_eq!(by_ipc.batch, by_buffers.batch);
    assert_eq!(by_ipc.rejections, by_buffers.rejections);
    assert!(!by_ipc.rejections.is_empty(), "the sample has negative durations");
    let last = by_ipc.rejections.last().unwrap().row as usize;
    assert!(last >= 2_000, "rows of the second IPC batch are numbered after the first's");
    let duration = input.column_by_name("duration_ms").unwrap().as_primitive::<arrow::datatypes::Int32Type>();
    assert!(by_ipc.rejections.iter().all(|r| duration.value(r.row as usize) < 0));
    let ids = by_ipc.batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(ids.len() + by_ipc.rejections.len(), input.num_rows());

    // A stream of another schema is refused by the plugin, and the instance survives.
    let other = input.project(&[0, 1]).unwrap();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &other.schema()).unwrap();
    writer.write(&other).unwrap();
    writer.finish().unwrap();
    let err = instance.process_ipc(&writer.into_inner().unwrap(), other.num_rows()).unwrap_err();
    assert!(err.to_string().contains("not the bound input schema"), "{err}");
    assert!(!instance.is_poisoned());
    assert_eq!(instance.process(&input).unwrap().batch, by_buffers.batch);
}
