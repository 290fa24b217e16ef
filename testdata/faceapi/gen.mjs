// Reference activations of dlib's face ResNet as face-api runs it, for the
// parity test of the dlib_resnet29 architecture (stages/internal/net).
//
//	mkdir -p /tmp/tfjs && cd /tmp/tfjs && \
//	  npm install @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0
//	node testdata/faceapi/gen.mjs /tmp/tfjs
//
// It reads models/face-recognition/ (the manifest and shard, dequantised by
// tfjs's own io.decodeWeights) and re-implements face-api 1.7.15's
// FaceRecognitionNet.forwardInput (src/faceRecognitionNet/*.ts) with the same
// tfjs-core ops on the cpu backend: normalisation (RGB − mean, ÷ 255), the
// 7×7/2 'valid' convolution, 3×3/2 'valid' max pooling, residual and
// residualDown layers (conv + bias, scale layer, ReLU; the shortcut of a
// down-sampling layer is a 2×2/2 average pool with zero channels appended,
// the residual branch zero-padded at the bottom and right when smaller), the
// global mean and the 256→128 matrix product.
//
// The images are deterministic integer patterns (pixel below), so the Go
// test rebuilds them. Output, float32 little endian, NCHW: embedding.f32
// (N×128), conv64.f32 (N×64×17×17, the stage after conv64_3), conv256.f32
// (N×256×2×2, after conv256_down_out).
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.argv.length < 3) {
  console.error('usage: node gen.mjs DIR (the folder where the tfjs packages are installed)');
  process.exit(2);
}
const require = createRequire(join(process.argv[2], 'node_modules', 'x.js'));
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');

const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, '..', '..', 'models', 'face-recognition');

// pixel is image n's value at row y, column x, channel c (0…255).
export function pixel(n, y, x, c) {
  return (x * (3 + n) + y * (5 + 2 * c) + ((x * y) >> (4 + n)) + 40 * c) & 255;
}
const N = 3, S = 150;

async function main() {
  await tf.setBackend('cpu');
  const manifest = JSON.parse(readFileSync(join(modelDir, 'face_recognition_model-weights_manifest.json'), 'utf8'));
  const specs = manifest.flatMap((g) => g.weights);
  const bin = readFileSync(join(modelDir, manifest[0].paths[0]));
  const W = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), specs);

  const px = new Float32Array(N * S * S * 3);
  for (let n = 0; n < N; n++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) {
    px[((n * S + y) * S + x) * 3 + c] = pixel(n, y, x, c);
  }

  const convLayer = (x, p, strides, relu, padding = 'same') => {
    let out = tf.conv2d(x, W[`${p}/conv/filters`], strides, padding);
    out = tf.add(out, W[`${p}/conv/bias`]);
    out = tf.add(tf.mul(out, W[`${p}/scale/weights`]), W[`${p}/scale/biases`]);
    return relu ? tf.relu(out) : out;
  };
  const residual = (x, p) => {
    let out = convLayer(x, `${p}/conv1`, [1, 1], true);
    out = convLayer(out, `${p}/conv2`, [1, 1], false);
    return tf.relu(tf.add(out, x));
  };
  const residualDown = (x, p) => {
    let out = convLayer(x, `${p}/conv1`, [2, 2], true, 'valid');
    out = convLayer(out, `${p}/conv2`, [1, 1], false);
    let pooled = tf.avgPool(x, 2, 2, 'valid');
    const zeros = tf.zeros(pooled.shape);
    if (pooled.shape[1] !== out.shape[1] || pooled.shape[2] !== out.shape[2]) {
      const padX = [...out.shape]; padX[1] = 1;
      out = tf.concat([out, tf.zeros(padX)], 1);
      const padY = [...out.shape]; padY[2] = 1;
      out = tf.concat([out, tf.zeros(padY)], 2);
    }
    if (pooled.shape[3] !== out.shape[3]) pooled = tf.concat([pooled, zeros], 3);
    return tf.relu(tf.add(pooled, out));
  };

  const taps = {};
  const nchw = (t) => tf.transpose(t, [0, 3, 1, 2]);
  const input = tf.tensor4d(px, [N, S, S, 3]);
  const mean = tf.tensor1d([122.782, 117.001, 104.298]);
  let out = tf.div(tf.sub(input, mean), 255);
  out = convLayer(out, 'conv32_down', [2, 2], true, 'valid');
  out = tf.maxPool(out, 3, 2, 'valid');
  for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) out = residual(out, p);
  out = residualDown(out, 'conv64_down');
  for (const p of ['conv64_1', 'conv64_2', 'conv64_3']) out = residual(out, p);
  taps.conv64 = nchw(out);
  out = residualDown(out, 'conv128_down');
  for (const p of ['conv128_1', 'conv128_2']) out = residual(out, p);
  out = residualDown(out, 'conv256_down');
  for (const p of ['conv256_1', 'conv256_2']) out = residual(out, p);
  out = residualDown(out, 'conv256_down_out');
  taps.conv256 = nchw(out);
  taps.embedding = tf.matMul(tf.mean(out, [1, 2]), W.fc);

  for (const [name, t] of Object.entries(taps)) {
    const data = await t.data();
    writeFileSync(join(here, `${name}.f32`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    console.log(name, t.shape.join('×'));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
