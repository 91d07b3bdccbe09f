// faceapi_ref.js runs face-api.js's own FaceRecognitionNet (tfjs-core's
// pure-JS CPU backend, as bundled in face-api.js's dist) on raw RGB input so
// the ONNX conversion can be checked against it.
//
//   node faceapi_ref.js FACEAPIJS_DIST MANIFEST.json IN.f32 N OUT.f32
//
// IN.f32 holds N x 150 x 150 x 3 little-endian float32 pixel values (0..255,
// RGB, NHWC); OUT.f32 receives N x 128 float32 descriptors.
const fs = require('fs');
const path = require('path');
const [dist, manifestPath, inPath, nStr, outPath] = process.argv.slice(2);
const faceapi = require(dist);
const tf = faceapi.tf;

async function main() {
  await tf.setBackend('cpu');
  if (tf.getBackend() !== 'cpu') throw new Error('tfjs backend is ' + tf.getBackend());
  const manifest = JSON.parse(fs.readFileSync(manifestPath));
  const dir = path.dirname(manifestPath);
  const map = {};
  for (const group of manifest) {
    const bufs = group.paths.map(p => fs.readFileSync(path.join(dir, p)));
    const buf = Buffer.concat(bufs);
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    Object.assign(map, tf.io.decodeWeights(ab, group.weights));
  }
  const net = new faceapi.FaceRecognitionNet();
  net.loadFromWeightMap(map);
  const n = parseInt(nStr, 10);
  const raw = fs.readFileSync(inPath);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const size = 150 * 150 * 3;
  const inputs = [];
  for (let i = 0; i < n; i++) inputs.push(tf.tensor3d(data.subarray(i * size, (i + 1) * size), [150, 150, 3]));
  const out = await net.forward(inputs);
  const res = await out.data();
  fs.writeFileSync(outPath, Buffer.from(res.buffer));
}
main().catch(e => { console.error(e); process.exit(1); });
