//! A pool of warm instances of one configured transform.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;

use super::gauges::Gauges;
use super::{Grants, Instance, Limits, Output, Plugin, PluginError, TransformInfo, TransformKind};

/// How a pool runs its instances.
#[derive(Debug, Clone, Default)]
pub struct PoolOptions {
    /// Limits of each instance.
    pub limits: Limits,
    /// Capabilities of each instance.
    pub grants: Grants,
    /// Most instances at once (calls in parallel); at least 1. Aggregates get 1.
    pub max_instances: usize,
}

/// Warm instances of one plugin transform, opened with one configuration
/// and bound to one input schema. Instances that fail are discarded and
/// replaced on demand, so a bad batch never poisons the next one.
pub struct Pool {
    plugin: Arc<Plugin>,
    transform: TransformInfo,
    config: Vec<(String, String)>,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    /// The input columns the transform reads, as the first instance bound.
    reads: Option<Vec<usize>>,
    limits: Limits,
    grants: Grants,
    max_instances: usize,
    idle: Mutex<Vec<Instance>>,
    gauges: Arc<Gauges>,
}

impl Pool {
    /// Opens and binds a first instance, so a bad configuration or schema
    /// fails here, before any data moves.
    pub fn new(
        plugin: Arc<Plugin>,
        transform: Option<&str>,
        config: Vec<(String, String)>,
        input_schema: SchemaRef,
        options: PoolOptions,
    ) -> Result<Self, PluginError> {
        let transform = plugin.transform(transform)?.clone();
        if options.limits.fuel.is_some() && !plugin.counts_fuel() {
            return Err(PluginError::Config {
                plugin: plugin.label(),
                message: "a fuel limit is set, but the runtime was started without fuel counting".into(),
            });
        }
        // A stateful transform keeps its state in one instance.
        let max_instances = if transform.kind == TransformKind::Aggregate { 1 } else { options.max_instances.max(1) };
        let mut pool = Self {
            plugin,
            transform,
            config,
            output_schema: input_schema.clone(),
            reads: None,
            input_schema,
            limits: options.limits,
            grants: options.grants,
            max_instances,
            idle: Mutex::new(Vec::new()),
            gauges: Arc::default(),
        };
        let (first, output_schema) = pool.start()?;
        pool.output_schema = output_schema;
        pool.reads = first.reads().map(<[usize]>::to_vec);
        pool.idle.get_mut().expect("not shared yet").push(first);
        // Start the others now too: guests such as CPython or SpiderMonkey
        // take milliseconds to start, which the first batches should not wait for.
        for _ in 1..pool.max_instances {
            let instance = pool.start_agreeing()?;
            pool.idle.get_mut().expect("not shared yet").push(instance);
        }
        Ok(pool)
    }

    /// A new instance that answered the same output schema as the first.
    fn start_agreeing(&self) -> Result<Instance, PluginError> {
        let (instance, output) = self.start()?;
        // Every instance must agree with the first, or batches would change shape mid-stream.
        if output != self.output_schema || instance.reads() != self.reads.as_deref() {
            return Err(PluginError::Malformed {
                plugin: self.label(),
                call: "bind",
                reason: "a new instance answered a different output schema or read other columns than the first".into(),
            });
        }
        Ok(instance)
    }

    /// A new instance, opened and bound, with the output schema it answered.
    fn start(&self) -> Result<(Instance, SchemaRef), PluginError> {
        let mut instance =
            Instance::new(&self.plugin, self.label().into(), self.limits.clone(), &self.grants, self.gauges.clone())?;
        instance.open(&self.transform.name, self.transform.kind, &self.config)?;
        let output = instance.bind(&self.input_schema)?;
        Ok((instance, output))
    }

    /// `name@version/transform`, naming the pool's instances in messages and logs.
    fn label(&self) -> String {
        format!("{}/{}", self.plugin.label(), self.transform.name)
    }

    /// The plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The transform served.
    pub fn transform(&self) -> &TransformInfo {
        &self.transform
    }

    /// The output schema all instances agreed on.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The top-level input columns the transform reads, by index, in the
    /// input's order; `None` when it reads them all. What a source need not
    /// read at all when this is the first stage.
    pub fn reads(&self) -> Option<&[usize]> {
        self.reads.as_deref()
    }

    /// Live instances and their memory.
    pub fn gauges(&self) -> &Gauges {
        &self.gauges
    }

    /// How many calls may run at once.
    pub fn max_instances(&self) -> usize {
        self.max_instances
    }

    /// A warm instance, or a new one. It returns to the pool when dropped,
    /// unless it failed.
    pub fn get(&self) -> Result<PooledInstance<'_>, PluginError> {
        let idle = self.idle.lock().expect("pool lock").pop();
        let instance = match idle {
            Some(instance) => instance,
            None => self.start_agreeing()?,
        };
        Ok(PooledInstance { pool: self, instance: Some(instance) })
    }

    /// Ends the stream on every instance and returns what they emit.
    pub fn finish(&self) -> Result<Vec<Output>, PluginError> {
        let instances = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        let mut outputs = Vec::new();
        for mut instance in instances {
            outputs.extend(instance.finish()?);
        }
        Ok(outputs)
    }
}

/// An instance borrowed from a [`Pool`].
pub struct PooledInstance<'a> {
    pool: &'a Pool,
    instance: Option<Instance>,
}

impl Deref for PooledInstance<'_> {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        self.instance.as_ref().expect("present until dropped")
    }
}

impl DerefMut for PooledInstance<'_> {
    fn deref_mut(&mut self) -> &mut Instance {
        self.instance.as_mut().expect("present until dropped")
    }
}

impl Drop for PooledInstance<'_> {
    fn drop(&mut self) {
        let Some(instance) = self.instance.take() else { return };
        if instance.is_poisoned() {
            return;
        }
        let pool = self.pool;
        // An aggregate's state lives in its instance: it keeps it, whatever its memory.
        if instance.memory_bytes() <= pool.limits.recycle_memory_bytes
            || pool.transform.kind == TransformKind::Aggregate
        {
            pool.idle.lock().expect("pool lock").push(instance);
            return;
        }
        // The call is complete and its result taken: nothing of the stream is lost with this instance.
        tracing::debug!(plugin = %pool.label(), memory = instance.memory_bytes(), "recycling an instance");
        pool.gauges.recycled_one();
        drop(instance);
        match pool.start_agreeing() {
            Ok(fresh) => pool.idle.lock().expect("pool lock").push(fresh),
            // The next `get` starts one and reports the failure with its batch.
            Err(e) => tracing::warn!(plugin = %pool.label(), "cannot start a replacement instance now: {e}"),
        }
    }
}
