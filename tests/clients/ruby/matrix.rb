# matrix.rb — redis-rb (Debian's ruby-redis) against shardproxy with its
# default options: the steps of tests/integration/test_clients.py, which
# checks on the backends what they wrote. Usage:
#   ruby matrix.rb <port> <prefix> <keyA> <keyB> [password]
# Prints one JSON object of results.
require 'json'
require 'redis'

port, prefix, key_a, key_b, password = ARGV
k = ->(name) { "#{prefix}:#{name}" }
out = {}
begin
  url = password ? "redis://default:#{password}@127.0.0.1:#{port}/0"
                 : "redis://127.0.0.1:#{port}/0"
  r = Redis.new(url: url, id: "#{prefix}-name", timeout: 5)
  out['name'] = r.call('CLIENT', 'GETNAME')
  out['set'] = r.set(k.('a'), '1')
  out['get'] = r.get(k.('a'))
  out['mset'] = r.mset(k.('m1'), 'x', k.('m2'), 'y', k.('m3'), 'z')
  out['mget'] = r.mget(k.('m1'), k.('m2'), k.('nope'), k.('m3'))
  out['del'] = r.del(k.('m1'), k.('nope'))
  out['pipeline'] = r.pipelined { |p| 20.times { |i| p.set(k.("p#{i}"), i.to_s) } }.size
  out['txn'] = r.multi do |m|
    m.set(k.('{t}x'), '5')
    m.incrby(k.('{t}x'), 2)
    m.get(k.('{t}x'))
  end
  begin
    r.multi do |m|
      m.set(key_a, '1')
      m.set(key_b, '2')
    end
    out['crossTxn'] = 'applied'
  rescue Redis::BaseError => e
    out['crossTxn'] = e.message
  end
  lua = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
  sha = r.script(:load, lua)
  out['script'] = r.evalsha(sha, keys: [k.('counter')], argv: [3])
  out['script2'] = r.evalsha(sha, keys: [k.('counter')], argv: [4])
  out['lock'] = r.set(k.('lock'), 'token', nx: true, px: 5000)
  out['lock2'] = r.set(k.('lock'), 'other', nx: true, px: 5000)
  out['unlock'] = r.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then " \
                         "return redis.call('DEL', KEYS[1]) else return 0 end",
                         keys: [k.('lock')], argv: ['token'])
  r.close
rescue StandardError => e
  out['fatal'] = "#{e.class}: #{e.message}"
end
puts JSON.generate(out)
