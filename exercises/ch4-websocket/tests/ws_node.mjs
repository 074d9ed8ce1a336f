// ws_node.mjs -- ws_conn checked by Node.js's built-in WebSocket client
// (undici's, the browsers' API). Node 22 has it on by default; Node 20 and
// 21 need --experimental-websocket, which check_ws_clients.c passes.
//
// usage: node ws_node.mjs PORT
// Prints one line per check and "N passed, N failed"; exits 1 on failure.
const url = `ws://127.0.0.1:${process.argv[2]}/`;

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error("cannot connect to " + url));
  });
}

function next(ws) {
  return new Promise((resolve, reject) => {
    ws.onmessage = (e) => resolve(e.data);
    ws.onclose = (e) => reject(new Error(`closed (${e.code}) before an echo`));
  });
}

function closed(ws, code, reason) {
  return new Promise((resolve) => {
    ws.onclose = (e) => resolve(e);
    ws.close(code, reason);
  });
}

async function echoes() {
  const ws = await open();
  for (const n of [0, 1, 125, 126, 65535, 65536, 65537, 300000, 1 << 20]) {
    const text = "κόσμε ".repeat(n / 6 + 1).slice(0, n);
    ws.send(text);
    if ((await next(ws)) !== text) throw new Error(`text of ${n} differs`);
    const bytes = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    ws.send(bytes);
    const got = new Uint8Array(await next(ws));
    if (got.length !== n || got.some((b, i) => b !== bytes[i]))
      throw new Error(`${n} binary bytes differ`);
  }
  await closed(ws, 1000);
}

async function closeCode() {
  const ws = await open();
  const e = await closed(ws, 4001, "done");
  if (e.code !== 4001) throw new Error(`closed with ${e.code}, not 4001`);
}

async function manyClients() {
  const one = async (i) => {
    const ws = await open();
    for (let j = 0; j < 10; j++) {
      const m = `client ${i} message ${j}`;
      ws.send(m);
      if ((await next(ws)) !== m) throw new Error(`client ${i}: echo ${j}`);
    }
    await closed(ws, 1000);
  };
  await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
}

const checks = [
  ["text and binary, 0 bytes to 1 MiB", echoes],
  ["close code echoed", closeCode],
  ["50 concurrent clients", manyClients],
];
let passed = 0, failed = 0;
for (const [name, check] of checks) {
  try {
    await check();
    console.log(`ok      ${name}`);
    passed++;
  } catch (e) {
    console.log(`FAILED  ${name}: ${e.message}`);
    failed++;
  }
}
console.log(`node ${process.version}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
