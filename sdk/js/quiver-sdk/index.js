/**
 * Quiver's JavaScript SDK: write a transform plugin over Arrow JS record
 * batches, or as column expressions the host's Arrow kernels run. `quiver
 * plugin build` bundles it with apache-arrow into a component; the
 * contract's wire form stays hidden (see `guest.js`).
 */
import * as arrow from 'apache-arrow';
import * as types from './types.js';

export { arrow, types };
export { PluginError, configError, schemaError, invalidCall } from './errors.js';
export { ConfigKey, Output, Plugin, Transform } from './plugin.js';
export { batchOf, columnOf, concatBatches, filterBatch, keptRows, take, validity } from './kernels.js';
export { log } from './log.js';
export { Expr, HostColumn, KernelError, col, pc, when } from './compute.js';
