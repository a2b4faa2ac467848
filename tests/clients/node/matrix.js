// matrix.js — one Node.js client library against shardproxy, default
// options: the steps of tests/integration/test_clients.py, which checks on
// the backends what they wrote. Usage:
//   node matrix.js <node-redis|ioredis> <port> <prefix> <keyA> <keyB> [password]
// keyA and keyB are on different servers (the transaction over both must be
// refused, and nothing of it applied).
// Prints one JSON object of results; exits non-zero on an unexpected error.
'use strict';

const [lib, port, prefix, keyA, keyB, password] = process.argv.slice(2);
const k = (name) => `${prefix}:${name}`;
const results = {};

async function withNodeRedis() {
  const { createClient, defineScript } = require('redis');
  const auth = password ? `default:${password}@` : '';
  const client = createClient({
    url: `redis://${auth}127.0.0.1:${port}`,
    name: `${prefix}-name`,
    scripts: {
      bump: defineScript({
        NUMBER_OF_KEYS: 1,
        SCRIPT: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
        parseCommand(parser, key, by) { parser.pushKey(key); parser.push(String(by)); },
        transformReply(reply) { return reply; },
      }),
    },
  });
  client.on('error', (e) => { results.clientError = String(e); });
  await client.connect();
  results.name = await client.clientGetName();
  results.set = await client.set(k('a'), '1');
  results.get = await client.get(k('a'));
  results.mset = await client.mSet([[k('m1'), 'x'], [k('m2'), 'y'], [k('m3'), 'z']]);
  results.mget = await client.mGet([k('m1'), k('m2'), k('nope'), k('m3')]);
  results.del = await client.del([k('m1'), k('nope')]);
  const pipe = client.multi();      // execAsPipeline: no MULTI
  for (let i = 0; i < 20; i++) pipe.set(k(`p${i}`), String(i));
  results.pipeline = (await pipe.execAsPipeline()).length;
  results.txn = await client.multi()
    .set(k('{t}x'), '5').incrBy(k('{t}x'), 2).get(k('{t}x')).exec();
  try {
    await client.multi().set(keyA, '1').set(keyB, '2').exec();
    results.crossTxn = 'applied';
  } catch (e) {
    results.crossTxn = String(e.message || e);
  }
  results.script = await client.bump(k('counter'), 3);
  results.script2 = await client.bump(k('counter'), 4);
  results.lock = await client.set(k('lock'), 'token', { NX: true, PX: 5000 });
  results.lock2 = await client.set(k('lock'), 'other', { NX: true, PX: 5000 });
  results.unlock = await client.eval(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
    { keys: [k('lock')], arguments: ['token'] });
  results.hello = (await client.sendCommand(['HELLO'])).proto;
  await client.quit();
}

async function withIoredis() {
  const Redis = require('ioredis');
  const client = new Redis({ port: Number(port), host: '127.0.0.1',
    password: password || undefined, connectionName: `${prefix}-name`,
    maxRetriesPerRequest: 1, enableOfflineQueue: true });
  client.on('error', (e) => { results.clientError = String(e); });
  client.defineCommand('bump', { numberOfKeys: 1,
    lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])" });
  await new Promise((resolve, reject) => {
    client.once('ready', resolve);
    setTimeout(() => reject(new Error('not ready in 10 s')), 10000);
  });
  results.name = await client.client('GETNAME');
  results.set = await client.set(k('a'), '1');
  results.get = await client.get(k('a'));
  results.mset = await client.mset(k('m1'), 'x', k('m2'), 'y', k('m3'), 'z');
  results.mget = await client.mget(k('m1'), k('m2'), k('nope'), k('m3'));
  results.del = await client.del(k('m1'), k('nope'));
  const pipe = client.pipeline();
  for (let i = 0; i < 20; i++) pipe.set(k(`p${i}`), String(i));
  results.pipeline = (await pipe.exec()).length;
  results.txn = (await client.multi()
    .set(k('{t}x'), '5').incrby(k('{t}x'), 2).get(k('{t}x')).exec())
    .map(([err, v]) => (err ? String(err) : v));
  try {
    const r = await client.multi().set(keyA, '1').set(keyB, '2').exec();
    results.crossTxn = r === null ? 'null' : 'applied';
  } catch (e) {
    results.crossTxn = String(e.message || e);
  }
  results.script = await client.bump(k('counter'), 3);
  results.script2 = await client.bump(k('counter'), 4);
  results.lock = await client.set(k('lock'), 'token', 'PX', 5000, 'NX');
  results.lock2 = await client.set(k('lock'), 'other', 'PX', 5000, 'NX');
  results.unlock = await client.eval(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
    1, k('lock'), 'token');
  await client.quit();
}

const timer = setTimeout(() => {
  console.log(JSON.stringify({ ...results, fatal: 'timed out after 30 s' }));
  process.exit(2);
}, 30000);

(lib === 'ioredis' ? withIoredis() : withNodeRedis())
  .then(() => { clearTimeout(timer); console.log(JSON.stringify(results)); })
  .catch((e) => {
    clearTimeout(timer);
    console.log(JSON.stringify({ ...results, fatal: String(e && e.stack || e) }));
    process.exit(1);
  });
