// The node `ws` peer for wsbench: the npm `ws` server (tests/node_modules)
// on Node 20, in the shape the benchmark's peers share.
//
//   node bench/peer-node.js echo|broadcast PORT
//
// echo: every text or binary message is sent back on the connection it
// came from. broadcast: every message is sent to every other open
// connection (the loop of ws's own broadcast example). Listens on
// 127.0.0.1:PORT without permessage-deflate, prints "listening PORT" once
// it accepts, and exits on SIGTERM or SIGINT, or when the process that
// started it is gone, so it never outlives the bench script.
'use strict';
const path = require('path');
const { WebSocketServer, WebSocket } = require(path.join(__dirname, '../tests/node_modules/ws'));

const mode = process.argv[2];
const port = parseInt(process.argv[3], 10);
if ((mode !== 'echo' && mode !== 'broadcast') || !(port > 0)) {
  console.error('usage: node bench/peer-node.js echo|broadcast PORT');
  process.exit(2);
}

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, backlog: 4096 });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  if (mode === 'echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    ws.on('message', (data, isBinary) => {
      for (const c of wss.clients) {
        if (c !== ws && c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
      }
    });
  }
});

wss.on('listening', () => console.log(`listening ${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
