// docker-compose.yml: valid against the Compose Specification's JSON schema
// (the copy dclint ships), clean under dclint's error rules, and consistent
// with the repository: services named in depends_on exist, every long-running
// service has a healthcheck, every CHAT_* variable set is one the programs
// or the harness scripts read, the API is published on 8080, every file
// the build or a mount uses exists, and the nginx configuration the
// nginx-config service writes (the project's own nginx/chat-*.conf) passes
// nginx -t.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Ajv from 'ajv';
import YAML from 'yaml';
import { read, rel, repo } from './lib.mjs';

const require = createRequire(import.meta.url);
const composeText = read('docker-compose.yml');
const compose = YAML.parse(composeText, { merge: true });
const services = compose.services;
const entrypoint = read('jobs', 'deploy', 'docker-entrypoint.sh');

// Compose interpolation: ${VAR:-default} and ${VAR-default} to the default.
const interpolate = (s) => String(s).replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}/g, (_, d) => d ?? '');
const envOf = (svc) => {
  const e = svc.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((x) => [x.split('=')[0], x.split('=').slice(1).join('=')]));
  return e;
};
const oneShot = (name) => services[name].restart === 'no';
const appServices = Object.keys(services).filter((n) => services[n].build && n !== 'nginx');

test('valid against the Compose Specification JSON schema', () => {
  const schemaFile = join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8'));
  // Draft-07, named by an https URI that Ajv's built-in meta-schema lacks.
  delete schema.$schema;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  const ok = validate(compose);
  assert.ok(ok, JSON.stringify(validate.errors, null, 1));
});

test('dclint finds no error', () => {
  const bin = join(dirname(require.resolve('dclint/package.json')), 'bin', 'dclint.cjs');
  const r = spawnSync(process.execPath, [bin, '-q', '--color', 'false', rel('docker-compose.yml')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('depends_on names services that exist, with conditions that fit them', () => {
  for (const [name, svc] of Object.entries(services)) {
    for (const [dep, spec] of Object.entries(svc.depends_on ?? {})) {
      assert.ok(services[dep], `${name} depends on unknown service ${dep}`);
      const cond = spec.condition;
      if (oneShot(dep)) assert.equal(cond, 'service_completed_successfully', `${name} -> ${dep}`);
      else assert.equal(cond, 'service_healthy', `${name} -> ${dep}`);
      if (cond === 'service_healthy') assert.ok(services[dep].healthcheck, `${dep} has a healthcheck`);
    }
  }
});

test('every long-running service has a healthcheck; one-shots are not restarted', () => {
  for (const [name, svc] of Object.entries(services)) {
    if (oneShot(name)) continue;
    assert.ok(svc.healthcheck?.test, `${name}: healthcheck`);
    assert.ok(['always', 'unless-stopped', 'on-failure'].includes(svc.restart), `${name}: restart policy`);
  }
  // Serving the API needs everything up: nginx waits (transitively) for all.
  const seen = new Set();
  const visit = (n) => { if (!seen.has(n)) { seen.add(n); Object.keys(services[n].depends_on ?? {}).forEach(visit); } };
  visit('nginx');
  const unrelated = Object.keys(services).filter((n) => !seen.has(n) && n !== 'sync');
  assert.deepEqual(unrelated, [], 'services nginx does not wait for');
});

test('the services are the ones asked for: official images, AOF, single-node Elasticsearch', () => {
  assert.match(services.mysql.image, /^(mariadb|mysql):/);
  assert.match(services.redis.image, /^redis:7/);
  assert.ok(services.redis.command.join(' ').includes('--appendonly yes'));
  assert.match(services.elasticsearch.image, /^(docker\.elastic\.co\/elasticsearch\/)?elasticsearch:8\./);
  const es = envOf(services.elasticsearch);
  assert.equal(es['discovery.type'], 'single-node');
  assert.equal(String(es['xpack.security.enabled']), 'false');
  assert.match(es.ES_JAVA_OPTS, /-Xms\S+ -Xmx\S+/);
  // nginx: Debian's, for its nchan module (the live streams).
  assert.equal(services.nginx.build.dockerfile, 'jobs/deploy/Dockerfile.nginx');
  assert.match(read('jobs', 'deploy', 'Dockerfile.nginx'), /^FROM debian:bookworm/m);
  assert.match(read('jobs', 'deploy', 'Dockerfile.nginx'), /libnginx-mod-nchan/);
  for (const n of appServices) assert.equal(services[n].build.dockerfile, 'jobs/deploy/Dockerfile');
  assert.deepEqual([...new Set(appServices.map((n) => services[n].command[0]))].sort(),
    ['fcgi', 'live-relay', 'migrate', 'nginx-config', 'sync', 'worker']);
});

test('every CHAT_* variable set is one that the programs or the scripts read', () => {
  const known = new Set();
  const scan = (text) => {
    for (const m of text.matchAll(/(?:getenv|str_env|uint_env)\("(CHAT_[A-Z0-9_]+)"/g)) known.add(m[1]);
  };
  for (const dir of ['lib', 'jobs', 'cgi-bin']) {
    for (const f of readdirSync(rel(dir)).filter((x) => x.endsWith('.c'))) scan(read(dir, f));
  }
  for (const f of ['env.sh', 'migrate.sh', 'stack.sh']) {
    for (const m of read('tests', 'harness', f).matchAll(/\$\{?(CHAT_[A-Z0-9_]+)/g)) known.add(m[1]);
  }
  assert.ok(known.has('CHAT_MYSQL_HOST') && known.has('CHAT_ES_URL'), 'found lib/config.c');
  const set = [];
  for (const [name, svc] of Object.entries(services)) {
    for (const v of Object.keys(envOf(svc))) if (v.startsWith('CHAT_')) set.push([name, v]);
  }
  assert.ok(set.length > 0);
  const unknown = set.filter(([, v]) => !known.has(v)).map(([n, v]) => `${n}: ${v}`);
  assert.deepEqual(unknown, []);
  // The programs' own settings reach every service that runs one.
  for (const n of ['migrate', 'fcgi', 'worker', 'sync']) {
    const env = envOf(services[n]);
    for (const v of ['CHAT_MYSQL_HOST', 'CHAT_MYSQL_PORT', 'CHAT_MYSQL_USER', 'CHAT_MYSQL_PASSWORD',
      'CHAT_MYSQL_DATABASE', 'CHAT_REDIS_HOST', 'CHAT_REDIS_PORT', 'CHAT_ES_URL']) {
      assert.ok(env[v] !== undefined, `${n}: ${v}`);
    }
    assert.ok(services[env.CHAT_MYSQL_HOST], `${n}: CHAT_MYSQL_HOST names a service`);
    assert.ok(services[env.CHAT_REDIS_HOST], `${n}: CHAT_REDIS_HOST names a service`);
    assert.ok(services[new URL(env.CHAT_ES_URL).hostname], `${n}: CHAT_ES_URL names a service`);
  }
  // The image's MARIADB_USER is the migrations' account (it owns the
  // schema); jobs/deploy/mariadb-init.sh makes the programs' account from
  // the CHAT_MYSQL_* the mysql service is given: the same as the programs'.
  const mysqlEnv = envOf(services.mysql);
  const migrateEnv = envOf(services.migrate);
  assert.equal(mysqlEnv.MARIADB_USER, migrateEnv.CHAT_MIGRATE_USER);
  assert.equal(interpolate(mysqlEnv.MARIADB_PASSWORD), interpolate(migrateEnv.CHAT_MIGRATE_PASSWORD));
  assert.notEqual(mysqlEnv.MARIADB_USER, envOf(services.fcgi).CHAT_MYSQL_USER);
  for (const n of ['fcgi', 'worker', 'sync']) {
    assert.equal(mysqlEnv.CHAT_MYSQL_USER, envOf(services[n]).CHAT_MYSQL_USER, n);
    assert.equal(interpolate(mysqlEnv.CHAT_MYSQL_PASSWORD), interpolate(envOf(services[n]).CHAT_MYSQL_PASSWORD), n);
    assert.equal(envOf(services[n]).CHAT_MIGRATE_PASSWORD, undefined, `${n} is not given the migrations' password`);
  }
  assert.equal(mysqlEnv.MARIADB_DATABASE, envOf(services.fcgi).CHAT_MYSQL_DATABASE);
  // Redis requires the password the programs log in with.
  const redisCmd = services.redis.command.map(String);
  const pw = redisCmd[redisCmd.indexOf('--requirepass') + 1];
  assert.ok(redisCmd.includes('--requirepass') && pw, 'redis-server --requirepass');
  assert.equal(interpolate(pw), interpolate(envOf(services.fcgi).CHAT_REDIS_PASSWORD));
  assert.equal(interpolate(envOf(services.redis).REDISCLI_AUTH), interpolate(pw), 'the healthcheck logs in');
  assert.ok((services.mysql.volumes ?? []).map(String).some((v) =>
    v.startsWith('./jobs/deploy/mariadb-init.sh:/docker-entrypoint-initdb.d/')), 'mariadb-init.sh mounted');
});

test('least privilege: no capability, no new privileges, a memory limit, no root', () => {
  const dockerfile = read('jobs', 'deploy', 'Dockerfile');
  assert.match(dockerfile, /^USER chat$/m, 'the image runs as chat');
  for (const [n, svc] of Object.entries(services)) {
    assert.deepEqual(svc.cap_drop, ['ALL'], `${n}: cap_drop ALL`);
    assert.ok((svc.security_opt ?? []).includes('no-new-privileges:true'), `${n}: no-new-privileges`);
    assert.match(String(svc.mem_limit ?? svc.deploy?.resources?.limits?.memory ?? ''), /^[0-9]+[kmg]?$/i, `${n}: memory limit`);
    assert.notEqual(String(svc.user ?? ''), 'root', `${n}: not root`);
    assert.notEqual(String(svc.user ?? '').split(':')[0], '0', `${n}: not uid 0`);
  }
  // Only nginx's master, which switches its workers' user, adds any back.
  const added = Object.entries(services).filter(([, s]) => s.cap_add).map(([n, s]) => [n, [...s.cap_add].sort()]);
  assert.deepEqual(added, [['nginx', ['CHOWN', 'SETGID', 'SETUID']]]);
  assert.equal(services.mysql.user, 'mysql');
  assert.equal(services.redis.user, 'redis');
});

test('the API is published on port 8080 and nginx listens there', () => {
  const ports = services.nginx.ports.map(String);
  assert.ok(ports.some((p) => /(^|:)8080:8080$/.test(p)), ports.join(', '));
  for (const [n, svc] of Object.entries(services)) if (n !== 'nginx') assert.equal(svc.ports, undefined, `${n} publishes no port`);
  assert.match(read('jobs', 'deploy', 'nginx-server.conf'), /^\s*listen 8080;/m);
});

test('the sockets volume is shared by fcgi and nginx at the path of the entrypoint', () => {
  const runDir = entrypoint.match(/^run_dir=(\S+)$/m)[1];
  const mountOf = (svc, vol) => (svc.volumes ?? []).map(String).find((v) => v.split(':')[0] === vol)?.split(':')[1];
  assert.equal(mountOf(services.fcgi, 'fcgi-run'), runDir);
  assert.equal(mountOf(services.nginx, 'fcgi-run'), runDir);
  assert.equal(mountOf(services['nginx-config'], 'nginx-conf'), '/etc/chat-nginx');
  assert.equal(mountOf(services.nginx, 'nginx-conf'), '/etc/nginx/conf.d');
  assert.equal(mountOf(services['nginx-config'], 'docs'), '/srv/chat-docs');
  assert.equal(mountOf(services.nginx, 'docs'), entrypoint.match(/@DOCS_DIR@\|([^|]+)\|/)[1]);
  for (const [n, svc] of Object.entries(services)) {
    for (const v of (svc.volumes ?? []).map(String)) {
      const src = v.split(':')[0];
      if (src.startsWith('.') || src.startsWith('/')) assert.ok(existsSync(join(repo, src)), `${n}: bind mount ${src}`);
      else assert.ok(Object.hasOwn(compose.volumes, src), `${n}: volume ${src} is declared`);
    }
  }
});

test('the build context has every file the Dockerfile copies', () => {
  const dockerfile = read(services.fcgi.build.dockerfile);
  let n = 0;
  for (const line of dockerfile.split('\n')) {
    const m = line.match(/^COPY\s+(?!--from)(.*)$/);
    if (!m) continue;
    const args = m[1].trim().split(/\s+/);
    for (const src of args.slice(0, -1)) {
      if (src === '.') continue;
      assert.ok(existsSync(join(repo, services.fcgi.build.context, src)), `COPY ${src}`);
      n++;
    }
  }
  assert.ok(n > 0);
  for (const f of ['docker-entrypoint.sh', 'nginx-server.conf']) {
    assert.ok(dockerfile.includes(`jobs/deploy/${f}`), `the image gets jobs/deploy/${f}`);
  }
  assert.ok(existsSync(rel('jobs', 'deploy', 'Dockerfile.dockerignore')));
});

const confFiles = ['chat-http.conf', 'chat-api.conf', 'chat-default.conf', 'chat-live-http.conf', 'chat-live.conf'];

test('the entrypoint replaces every placeholder of the nginx/chat-*.conf it installs', () => {
  for (const f of confFiles) {
    assert.match(entrypoint, new RegExp(`\\b${f.replace('.', '\\.')}\\b`), `the entrypoint writes ${f}`);
    for (const [ph] of read('nginx', f).matchAll(/@[A-Z_]+@/g)) {
      assert.ok(entrypoint.includes(`s|${ph}|`), `${ph} of nginx/${f}`);
    }
  }
});

test('the nginx configuration of the nginx service passes nginx -t', { skip: spawnSync('nginx', ['-v']).error ? 'nginx is not installed' : false }, () => {
  // What the nginx-config service writes, with the container's paths moved
  // under a temporary directory, inside an nginx.conf like the official
  // image's.
  const dir = mkdtempSync(join(tmpdir(), 'chat-compose-nginx-'));
  try {
    const conf = join(dir, 'conf.d');
    mkdirSync(join(conf, 'chat'), { recursive: true });
    const subst = [...entrypoint.matchAll(/-e "s\|(@[A-Z_]+@)\|([^|]+)\|g"/g)].map((m) => [m[1], m[2]]);
    const values = {
      '$run_dir': entrypoint.match(/^run_dir=(\S+)$/m)[1], '$rate': '10r/s', '$burst': '20',
      '$token_rate': '50r/s', '$token_burst': '500', '$read_rate': '100r/s', '$read_burst': '1000',
      '$search_rate': '10r/s', '$search_burst': '50', '$addr_conn': '256',
      '$live_socket': entrypoint.match(/^live_socket=(\S+)$/m)[1],
    };
    mkdirSync(join(dir, 'live'), { recursive: true });
    for (const f of confFiles) {
      let text = read('nginx', f);
      // The container's paths, moved under the temporary directory.
      const moved = (v) => v.replaceAll('/etc/nginx/conf.d/', `${conf}/`).replaceAll('/run/chat-live/', `${dir}/live/`);
      for (const [ph, v] of subst) text = text.replaceAll(ph, moved(values[v] ?? v));
      assert.doesNotMatch(text, /@[A-Z_]+@/);
      writeFileSync(join(conf, 'chat', f), text);
    }
    writeFileSync(join(conf, 'default.conf'),
      read('jobs', 'deploy', 'nginx-server.conf').replaceAll('/etc/nginx/conf.d/', `${conf}/`).replaceAll('/var/log/nginx/', `${dir}/`).replace('listen 8080;', 'listen 127.0.0.1:8080;'));
    copyFileSync('/etc/nginx/fastcgi_params', join(dir, 'fastcgi_params'));
    copyFileSync('/etc/nginx/mime.types', join(dir, 'mime.types'));
    // Debian's nginx.conf loads nchan through modules-enabled/.
    writeFileSync(join(dir, 'nginx.conf'), [
      'load_module /usr/lib/nginx/modules/ngx_nchan_module.so;',
      `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`, 'events { worker_connections 64; }',
      'http {', '  include mime.types;', '  default_type application/octet-stream;',
      `  access_log ${dir}/access.log;`, `  client_body_temp_path ${dir}/cb;`, `  fastcgi_temp_path ${dir}/fc;`,
      `  proxy_temp_path ${dir}/p;`, `  uwsgi_temp_path ${dir}/u;`, `  scgi_temp_path ${dir}/s;`,
      `  include ${conf}/*.conf;`, '}', ''].join('\n'));
    assert.match(read('jobs', 'deploy', 'nginx-server.conf'), /^\s*access_log \S+ chat_masked;/m, 'the access log masks tokens');
    const r = spawnSync('nginx', ['-t', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the entrypoint and the deploy scripts pass bash -n (and shellcheck when installed)', () => {
  const scripts = ['jobs/deploy/docker-entrypoint.sh', 'nginx/api-docs/build.sh', 'jobs/deploy/chat-migrate.in'];
  for (const s of scripts) execFileSync(s.endsWith('.sh') && s.includes('entrypoint') ? 'bash' : 'sh', ['-n', rel(s)]);
  if (!spawnSync('shellcheck', ['--version']).error) {
    const r = spawnSync('shellcheck', ['-s', 'bash', rel('jobs/deploy/docker-entrypoint.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout);
    const r2 = spawnSync('shellcheck', ['-s', 'sh', rel('nginx/api-docs/build.sh'), rel('jobs/deploy/chat-migrate.in')], { encoding: 'utf8' });
    assert.equal(r2.status, 0, r2.stdout);
  }
});
