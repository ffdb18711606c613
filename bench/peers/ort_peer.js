#!/usr/bin/env node
// ONNX Runtime peer for kiln compare: runs an ONNX model on the CPU with onnxruntime-node and
// prints one JSON object with the same fields as the other peers.
//
// usage: node ort_peer.js MODEL.onnx [--batch 1] [--threads N] [--duration 3] [--warmup 3]
//                         [--min-iters 10]
// The input is random uniform in [-1, 1); symbolic dimensions other than the batch must not occur.
'use strict';
const os = require('os');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function main() {
  const model = process.argv[2];
  if (!model || model.startsWith('--')) {
    console.error('usage: node ort_peer.js MODEL.onnx [--batch N] [--threads N] [--duration S]');
    process.exit(2);
  }
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    console.log(JSON.stringify({framework: 'onnxruntime', error: 'onnxruntime-node is not installed (run scripts/setup.sh)'}));
    process.exit(1);
  }
  const batch = parseInt(arg('--batch', '1'), 10);
  const threads = parseInt(arg('--threads', String(os.cpus().length)), 10);
  const duration = parseFloat(arg('--duration', '3'));
  const warmup = parseInt(arg('--warmup', '3'), 10);
  const minIters = parseInt(arg('--min-iters', '10'), 10);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  });
  const feeds = {};
  let seed = 1;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 * 2 - 1; };
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    let dims = meta && meta.shape ? meta.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : (i === 0 ? batch : NaN))) : null;
    if (!dims || dims.some((d) => Number.isNaN(d))) {
      throw new Error(`input ${name}: cannot determine its shape (${meta ? JSON.stringify(meta.shape) : 'no metadata'})`);
    }
    dims[0] = batch;
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rand();
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times = [];
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  while (times.length < minIters || elapsed() < duration) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  const pick = (p) => times[Math.min(times.length - 1, Math.max(0, Math.ceil(p * times.length) - 1))];
  const med = pick(0.5);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(JSON.stringify({
    framework: 'onnxruntime', version: ort.env.versions ? ort.env.versions.common : 'unknown',
    device: `cpu (${threads} threads)`, mode: 'fp32', precision: 'fp32', batch, runs: times.length,
    latency_ms: {median: med * 1e3, mean: mean * 1e3, min: times[0] * 1e3, p90: pick(0.9) * 1e3,
      p99: pick(0.99) * 1e3, max: times[times.length - 1] * 1e3},
    throughput: batch / med,
  }));
}

main().catch((e) => {
  console.log(JSON.stringify({framework: 'onnxruntime', error: String(e.message || e).split('\n')[0]}));
  process.exit(1);
});
