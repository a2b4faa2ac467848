<?php
// matrix.php — phpredis (Debian's php-redis) against shardproxy with its
// default options: the steps of tests/integration/test_clients.py, which
// checks on the backends what they wrote. Usage:
//   php matrix.php <port> <prefix> <keyA> <keyB> [password]
// Prints one JSON object of results.
[$self, $port, $prefix, $keyA, $keyB] = array_slice($argv, 0, 5);
$password = $argv[5] ?? null;
$k = fn($name) => "$prefix:$name";
$out = [];
try {
    $r = new Redis();
    $r->connect('127.0.0.1', (int)$port, 5.0);
    if ($password !== null) {
        $out['auth'] = $r->auth(['default', $password]);
    }
    $out['setname'] = $r->client('setname', "$prefix-name");
    $out['name'] = $r->client('getname');
    $out['set'] = $r->set($k('a'), '1');
    $out['get'] = $r->get($k('a'));
    $out['mset'] = $r->mset([$k('m1') => 'x', $k('m2') => 'y', $k('m3') => 'z']);
    $out['mget'] = $r->mget([$k('m1'), $k('m2'), $k('nope'), $k('m3')]);
    $out['del'] = $r->del($k('m1'), $k('nope'));
    $p = $r->pipeline();
    for ($i = 0; $i < 20; $i++) {
        $p->set($k("p$i"), (string)$i);
    }
    $out['pipeline'] = count($p->exec());
    $out['txn'] = $r->multi()->set($k('{t}x'), '5')->incrBy($k('{t}x'), 2)
        ->get($k('{t}x'))->exec();
    try {
        $res = $r->multi()->set($keyA, '1')->set($keyB, '2')->exec();
        $out['crossTxn'] = $res === false ? 'false: ' . $r->getLastError() : 'applied';
    } catch (RedisException $e) {
        $out['crossTxn'] = $e->getMessage();
        $r->discard();                  // the chain stopped inside MULTI
    }
    $lua = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    $sha = sha1($lua);
    $r->clearLastError();
    $v = $r->evalSha($sha, [$k('counter'), 3], 1);
    if ($v === false) {                 // NOSCRIPT: load it, as apps do
        $out['noscript'] = $r->getLastError();
        $v = $r->eval($lua, [$k('counter'), 3], 1);
    }
    $out['script'] = $v;
    $out['script2'] = $r->evalSha($sha, [$k('counter'), 4], 1);
    $out['lock'] = $r->set($k('lock'), 'token', ['nx', 'px' => 5000]);
    $out['lock2'] = $r->set($k('lock'), 'other', ['nx', 'px' => 5000]);
    $out['unlock'] = $r->eval("if redis.call('GET', KEYS[1]) == ARGV[1] then "
        . "return redis.call('DEL', KEYS[1]) else return 0 end",
        [$k('lock'), 'token'], 1);
    $r->close();
} catch (Throwable $e) {
    $out['fatal'] = (string)$e;
}
echo json_encode($out), "\n";
