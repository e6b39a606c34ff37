// The Socket.IO peer of bench/cluster.js: one Socket.IO 4 server (the npm
// packages pinned in bench/cluster/package-lock.json) sharing its rooms
// with the other nodes through Redis (@socket.io/redis-adapter on the
// node-redis v4 client).
//
//   node bench/cluster/sio-server.js PORT REDIS_PORT PREFIX
//
// WebSocket transport only, no permessage-deflate, on 127.0.0.1:PORT. A
// socket that emits "subscribe" with a room name joins it and is answered
// "subscribed" with the name; a "publish" with a payload becomes
// io.to('fan').emit('message', payload), which the adapter sends to every
// node's members of "fan" (the local ones directly, the others through a
// Redis PUBLISH). Prints "listening PORT" once it accepts, and exits on
// SIGTERM or SIGINT, or when the process that started it is gone.
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const port = parseInt(process.argv[2], 10);
const redisPort = parseInt(process.argv[3], 10);
const prefix = process.argv[4] || 'socket.io';
if (!(port > 0) || !(redisPort > 0)) {
  console.error('usage: node bench/cluster/sio-server.js PORT REDIS_PORT [PREFIX]');
  process.exit(2);
}

async function main() {
  const pub = createClient({ socket: { host: '127.0.0.1', port: redisPort } });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (e) => console.error(`redis: ${e.message}`));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
    adapter: createAdapter(pub, sub, { key: prefix }),
  });
  io.on('connection', (socket) => {
    socket.on('subscribe', (room) => {
      socket.join(String(room));
      socket.emit('subscribed', room);
    });
    socket.on('publish', (data) => {
      io.to('fan').emit('message', data);
    });
  });
  httpServer.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => console.log(`listening ${port}`));
}

main().catch((e) => {
  console.error(`sio-server: ${e.stack || e}`);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
