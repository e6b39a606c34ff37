// A small program against wsd-client's declarations, checked by
// `tsc --noEmit` (tests/static/client_types.test.js).
import { WsdClient, WsdError, type Message, type Recovery } from './wsd-client.js';

declare const WS: any;

const client = new WsdClient('ws://127.0.0.1:8080/ws', {
  WebSocket: WS,
  getToken: async () => 'a.jwt.token',
  backoff: { baseMs: 250, capMs: 10000, maxAttempts: 20 },
  transport: 'auto',
});
client.on('transport', (t, detail) => console.log(`now over ${t === 'sse' ? 'SSE' : 'WebSocket'}`, detail.refused));

client.on('state', (state, detail) => {
  const s: 'connecting' | 'connected' | 'disconnected' | 'closed' = state;
  if (detail.error) console.log(s, detail.error.code);
});
client.on('error', (e) => console.log(e instanceof WsdError ? e.code : e.message));

async function main(): Promise<void> {
  const sub = await client.subscribe(
    'chat',
    (m: Message) => console.log(m.seq, m.from, m.data),
    { onRecovery: (n: Recovery) => console.log('lost since', n.lastSeen) },
  );
  const seq: number = sub.seq;
  const ack = await client.publish('chat', { text: 'hi' }, { trace: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  console.log(seq, ack.id, ack.seq);
  const users = await client.presence('chat');
  console.log(users.map((u) => u.user + ':' + u.conns));
  client.close();
}

main();
