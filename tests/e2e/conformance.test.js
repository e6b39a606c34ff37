'use strict';
/*
 * RFC 6455 conformance of the echo endpoint, modelled on the Autobahn
 * TestSuite case groups 1 (framing), 2 (pings/pongs), 3 (reserved bits),
 * 4 (opcodes), 5 (fragmentation), 6 (UTF-8), 7 (close handling) and the
 * small sizes of 9 (limits/performance). Every frame is built by hand.
 */

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startWsd, RawWs, OP, encodeFrame, closePayload, acceptFor, assertServerFrame, readMessage, stopCleanly } = require('./harness');

const T = { timeout: 15000 };

let d;

before(
  async () => {
    /* A message limit well above the largest case here, so that only the framing is judged. */
    d = await startWsd({ workers: 2, config: { limits: { max_message_bytes: 262144 } } });
  },
  { timeout: 30000 },
);

after(
  async () => {
    if (d) await d.stop();
  },
  { timeout: 15000 },
);

const open = () => RawWs.open(d.port, '/echo');

function textPayload(len) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = 0x20 + (i % 95);
  return b;
}

function hex(b) {
  const s = b.toString('hex');
  return s.length > 64 ? `${s.slice(0, 64)}... (${b.length} bytes)` : `${s} (${b.length} bytes)`;
}

async function expectEcho(rw, opcode, payload, timeoutMs = 5000) {
  const m = await readMessage(rw, timeoutMs);
  assert.equal(m.opcode, opcode, 'echoed message has the wrong opcode');
  assert.ok(m.payload.equals(payload), `echoed payload differs: sent ${hex(payload)}, got ${hex(m.payload)}`);
}

async function expectPong(rw, payload, timeoutMs = 3000) {
  const f = await rw.nextFrame(timeoutMs);
  assertServerFrame(f);
  assert.equal(f.opcode, OP.PONG, `expected a pong, got opcode ${f.opcode}`);
  assert.equal(f.fin, true, 'pong must not be fragmented');
  assert.ok(f.payload.equals(payload), `pong payload differs: sent ${hex(payload)}, got ${hex(f.payload)}`);
}

/* Close with `code`, then the TCP connection must go, with nothing after the close frame. */
async function expectCloseAndEnd(rw, code, timeoutMs = 3000) {
  const f = await rw.expectClose(code, timeoutMs);
  await rw.waitEnd(3000);
  const after = rw.frames.filter((x) => x.opcode !== OP.PING);
  assert.equal(after.length, 0, `server sent ${after.length} frame(s) after its close frame`);
  return f;
}

/* Normal end of a case: client closes with 1000, server echoes 1000 and drops TCP. */
async function closeNormally(rw) {
  rw.close(1000);
  await expectCloseAndEnd(rw, 1000);
}

describe('handshake', () => {
  it('answers 101 with the right Sec-WebSocket-Accept', T, async () => {
    const rw = await open();
    assert.equal(rw.handshake.status, 101);
    assert.equal(rw.handshake.headers['sec-websocket-accept'], acceptFor(rw.handshake.key));
    assert.equal((rw.handshake.headers.upgrade || '').toLowerCase(), 'websocket');
    assert.match(rw.handshake.headers.connection || '', /upgrade/i);
    assert.equal(rw.handshake.headers['sec-websocket-extensions'], undefined, 'no extension was offered');
    await closeNormally(rw);
  });
});

describe('1: framing', () => {
  for (const len of [0, 125, 126, 127, 65535, 65536]) {
    it(`text message of ${len} bytes is echoed exactly`, T, async () => {
      const rw = await open();
      const p = textPayload(len);
      rw.text(p);
      await expectEcho(rw, OP.TEXT, p);
      await closeNormally(rw);
    });
    it(`binary message of ${len} bytes is echoed exactly`, T, async () => {
      const rw = await open();
      const p = crypto.randomBytes(len);
      rw.binary(p);
      await expectEcho(rw, OP.BINARY, p);
      await closeNormally(rw);
    });
  }

  it('a 65536-byte text frame written in 997-byte chunks is echoed exactly', T, async () => {
    const rw = await open();
    const p = textPayload(65536);
    const frame = encodeFrame({ opcode: OP.TEXT, payload: p });
    for (let off = 0; off < frame.length; off += 997) rw.write(frame.subarray(off, off + 997));
    await expectEcho(rw, OP.TEXT, p);
    await closeNormally(rw);
  });

  it('a 200-byte binary frame written one byte at a time is echoed exactly', T, async () => {
    const rw = await open();
    const p = crypto.randomBytes(200);
    const frame = encodeFrame({ opcode: OP.BINARY, payload: p });
    for (let i = 0; i < frame.length; i++) {
      rw.write(frame.subarray(i, i + 1));
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await expectEcho(rw, OP.BINARY, p);
    await closeNormally(rw);
  });

  it('an unmasked client frame closes with 1002', T, async () => {
    const rw = await open();
    rw.text('unmasked', { mask: false });
    await expectCloseAndEnd(rw, 1002);
  });
});

describe('2: pings and pongs', () => {
  it('empty ping -> empty pong', T, async () => {
    const rw = await open();
    rw.ping(Buffer.alloc(0));
    await expectPong(rw, Buffer.alloc(0));
    await closeNormally(rw);
  });

  it('ping with a text payload -> pong with the same payload', T, async () => {
    const rw = await open();
    const p = Buffer.from('Hello, wsd!');
    rw.ping(p);
    await expectPong(rw, p);
    await closeNormally(rw);
  });

  it('ping with a 125-byte binary payload -> pong with the same payload', T, async () => {
    const rw = await open();
    const p = crypto.randomBytes(125);
    rw.ping(p);
    await expectPong(rw, p);
    await closeNormally(rw);
  });

  it('ping with a 126-byte payload closes with 1002', T, async () => {
    const rw = await open();
    rw.ping(crypto.randomBytes(126));
    await expectCloseAndEnd(rw, 1002);
  });

  it('fragmented ping (FIN clear) closes with 1002', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.PING, payload: Buffer.from('frag'), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from('ment'), fin: true });
    await expectCloseAndEnd(rw, 1002);
  });

  it('unsolicited pong is ignored', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.PONG, payload: Buffer.from('unsolicited') });
    rw.text('after the pong');
    await expectEcho(rw, OP.TEXT, Buffer.from('after the pong'));
    await closeNormally(rw);
  });

  it('unsolicited pong then ping -> only the pong for the ping', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.PONG, payload: Buffer.from('unsolicited') });
    rw.ping(Buffer.from('solicited'));
    await expectPong(rw, Buffer.from('solicited'));
    await closeNormally(rw);
  });

  it('10 pings in a row -> 10 pongs in order', T, async () => {
    const rw = await open();
    for (let i = 0; i < 10; i++) rw.ping(Buffer.from(`ping-${i}`));
    for (let i = 0; i < 10; i++) await expectPong(rw, Buffer.from(`ping-${i}`));
    await closeNormally(rw);
  });
});

describe('3: reserved bits', () => {
  const cases = [
    ['RSV1 on a text frame', { opcode: OP.TEXT, payload: Buffer.from('rsv1'), rsv1: true }],
    ['RSV2 on a text frame', { opcode: OP.TEXT, payload: Buffer.from('rsv2'), rsv2: true }],
    ['RSV3 on a text frame', { opcode: OP.TEXT, payload: Buffer.from('rsv3'), rsv3: true }],
    ['RSV1+RSV3 on a binary frame', { opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]), rsv1: true, rsv3: true }],
    ['RSV1+RSV2+RSV3 on a ping', { opcode: OP.PING, payload: Buffer.from('p'), rsv1: true, rsv2: true, rsv3: true }],
    ['RSV2 on a close', { opcode: OP.CLOSE, payload: closePayload(1000), rsv2: true }],
  ];
  for (const [name, frame] of cases) {
    it(`${name} closes with 1002`, T, async () => {
      const rw = await open();
      rw.send(frame);
      await expectCloseAndEnd(rw, 1002);
    });
  }

  it('RSV2 after a valid text: the text is echoed, then close 1002, no pong for a following ping', T, async () => {
    const rw = await open();
    rw.text('valid');
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('bad'), rsv2: true });
    rw.ping(Buffer.from('late'));
    await expectEcho(rw, OP.TEXT, Buffer.from('valid'));
    await expectCloseAndEnd(rw, 1002);
  });
});

describe('4: opcodes', () => {
  for (const op of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    it(`reserved opcode ${op} closes with 1002`, T, async () => {
      const rw = await open();
      rw.send({ opcode: op, payload: op % 2 ? Buffer.alloc(0) : Buffer.from('reserved') });
      await expectCloseAndEnd(rw, 1002);
    });
  }

  it('text, reserved opcode 5, ping: text echoed, close 1002, no pong', T, async () => {
    const rw = await open();
    rw.text('before');
    rw.send({ opcode: 5, payload: Buffer.from('x') });
    rw.ping(Buffer.from('after'));
    await expectEcho(rw, OP.TEXT, Buffer.from('before'));
    await expectCloseAndEnd(rw, 1002);
  });
});

describe('5: fragmentation', () => {
  it('text in 3 fragments is echoed as one message', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('Hello'), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from(', '), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from('World!'), fin: true });
    await expectEcho(rw, OP.TEXT, Buffer.from('Hello, World!'));
    await closeNormally(rw);
  });

  it('binary in 3 fragments is echoed as one message', T, async () => {
    const rw = await open();
    const parts = [crypto.randomBytes(10), crypto.randomBytes(300), crypto.randomBytes(1)];
    rw.send({ opcode: OP.BINARY, payload: parts[0], fin: false });
    rw.send({ opcode: OP.CONT, payload: parts[1], fin: false });
    rw.send({ opcode: OP.CONT, payload: parts[2], fin: true });
    await expectEcho(rw, OP.BINARY, Buffer.concat(parts));
    await closeNormally(rw);
  });

  /*
   * A ping that arrives before a message's last fragment is answered
   * before the message: control frames are answered in the order they
   * were received. The frames go in one write, so that one read holds
   * them all and the server cannot answer them one at a time.
   */
  const pingOrderCases = [
    ['text, one ping before the last fragment', OP.TEXT, ['frag1-', 'frag2-', 'frag3'], [[1, ['again']]]],
    ['binary, one ping before the last fragment', OP.BINARY, ['\x00\x01', '\x02', '\xff'], [[1, ['bin']]]],
    ['text, a ping after each fragment', OP.TEXT, ['a', 'b', 'c', 'd'], [[0, ['p0']], [1, ['p1']], [2, ['p2']]]],
    ['binary, three pings before the last fragment', OP.BINARY, ['xx', 'yy'], [[0, ['one', 'two', 'three']]]],
    ['text, two pings after the first fragment', OP.TEXT, ['m1-', 'm2'], [[0, ['first', 'second']]]],
  ];
  for (const [name, opcode, parts, pingsAfter] of pingOrderCases) {
    it(`ping between fragments in one write (${name}): the pongs come first, in order, then the echo`, T, async () => {
      const rw = await open();
      const bufs = [];
      const expectPongs = [];
      parts.forEach((p, i) => {
        bufs.push(encodeFrame({ opcode: i === 0 ? opcode : OP.CONT, payload: Buffer.from(p, 'latin1'), fin: i === parts.length - 1 }));
        for (const [after, payloads] of pingsAfter)
          if (after === i)
            for (const pp of payloads) {
              bufs.push(encodeFrame({ opcode: OP.PING, payload: Buffer.from(pp) }));
              expectPongs.push(pp);
            }
      });
      rw.write(Buffer.concat(bufs));
      for (const pp of expectPongs) {
        const f = await rw.nextFrame(3000);
        assertServerFrame(f);
        assert.equal(f.opcode, OP.PONG, `a pong before the echo; got opcode ${f.opcode}`);
        assert.equal(f.payload.toString(), pp, 'pongs in the order of the pings');
      }
      await expectEcho(rw, opcode, Buffer.from(parts.join(''), 'latin1'));
      await closeNormally(rw);
    });
  }

  it('a ping between fragments is answered at once, before the message completes', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('frag1-'), fin: false });
    rw.ping(Buffer.from('in between'));
    await expectPong(rw, Buffer.from('in between'));
    rw.send({ opcode: OP.CONT, payload: Buffer.from('frag2'), fin: true });
    await expectEcho(rw, OP.TEXT, Buffer.from('frag1-frag2'));
    await closeNormally(rw);
  });

  it('an unsolicited pong between fragments is ignored', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('a'), fin: false });
    rw.send({ opcode: OP.PONG, payload: Buffer.from('x') });
    rw.send({ opcode: OP.CONT, payload: Buffer.from('b'), fin: true });
    await expectEcho(rw, OP.TEXT, Buffer.from('ab'));
    await closeNormally(rw);
  });

  it('continuation (FIN set) without a start closes with 1002', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.CONT, payload: Buffer.from('orphan'), fin: true });
    await expectCloseAndEnd(rw, 1002);
  });

  it('continuation (FIN clear) without a start closes with 1002', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.CONT, payload: Buffer.from('orphan'), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from('orphan'), fin: true });
    await expectCloseAndEnd(rw, 1002);
  });

  it('a new text frame while a fragmented message is open closes with 1002', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('first'), fin: false });
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('second'), fin: true });
    await expectCloseAndEnd(rw, 1002);
  });

  it('a new binary frame while a fragmented text message is open closes with 1002', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('first'), fin: false });
    rw.send({ opcode: OP.BINARY, payload: Buffer.from('second'), fin: false });
    await expectCloseAndEnd(rw, 1002);
  });

  it('fragments with empty payloads: text "" + "" + "" is echoed as an empty text', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.alloc(0), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.alloc(0), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.alloc(0), fin: true });
    await expectEcho(rw, OP.TEXT, Buffer.alloc(0));
    await closeNormally(rw);
  });

  it('fragments with some empty payloads: "" + "a" + "" + "b" is echoed as "ab"', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.alloc(0), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from('a'), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.alloc(0), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from('b'), fin: true });
    await expectEcho(rw, OP.TEXT, Buffer.from('ab'));
    await closeNormally(rw);
  });

  it('a message in 1-byte fragments is echoed as one message', T, async () => {
    const rw = await open();
    const p = Buffer.from('Hello, fragmented world!');
    for (let i = 0; i < p.length; i++) {
      rw.send({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: p.subarray(i, i + 1), fin: i === p.length - 1 });
    }
    await expectEcho(rw, OP.TEXT, p);
    await closeNormally(rw);
  });
});

describe('6: UTF-8', () => {
  const valid = [
    ['κόσμε', Buffer.from('κόσμε', 'utf8')],
    ['4-byte emoji', Buffer.from('grin 😀 rocket 🚀', 'utf8')],
    ['U+0080 and U+07FF', Buffer.from([0xc2, 0x80, 0xdf, 0xbf])],
    ['U+D7FF and U+E000 (around the surrogates)', Buffer.from([0xed, 0x9f, 0xbf, 0xee, 0x80, 0x80])],
    ['U+FFFF', Buffer.from([0xef, 0xbf, 0xbf])],
    ['U+10FFFF', Buffer.from([0xf4, 0x8f, 0xbf, 0xbf])],
  ];
  for (const [name, p] of valid) {
    it(`valid text (${name}) is echoed exactly`, T, async () => {
      const rw = await open();
      rw.text(p);
      await expectEcho(rw, OP.TEXT, p);
      await closeNormally(rw);
    });
  }

  it('valid multibyte text split byte by byte across fragments is echoed', T, async () => {
    const rw = await open();
    const p = Buffer.from('κόσμε 😀', 'utf8');
    for (let i = 0; i < p.length; i++) {
      rw.send({ opcode: i === 0 ? OP.TEXT : OP.CONT, payload: p.subarray(i, i + 1), fin: i === p.length - 1 });
    }
    await expectEcho(rw, OP.TEXT, p);
    await closeNormally(rw);
  });

  const invalid = [
    ['overlong C0 80', [0x41, 0xc0, 0x80, 0x42]],
    ['overlong E0 80 AF', [0xe0, 0x80, 0xaf]],
    ['surrogate ED A0 80', [0x41, 0xed, 0xa0, 0x80]],
    ['above U+10FFFF: F4 90 80 80', [0xf4, 0x90, 0x80, 0x80]],
    ['lone continuation 80', [0x41, 0x80, 0x42]],
    ['truncated E2 82 at the end', [0x41, 0xe2, 0x82]],
    ['truncated E2 82 followed by ASCII', [0xe2, 0x82, 0x41]],
    ['FE', [0xfe]],
    ['FF', [0x41, 0xff]],
    ['5-byte F8 88 80 80 80', [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ['κόσμε then ED A0 80', [...Buffer.from('κόσμε'), 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64]],
  ];
  for (const [name, bytes] of invalid) {
    it(`invalid text (${name}) closes with 1007`, T, async () => {
      const rw = await open();
      rw.text(Buffer.from(bytes));
      await expectCloseAndEnd(rw, 1007);
    });
  }

  it('invalid sequence split across fragments (ED | A0 80) closes with 1007', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from([0x41, 0xed]), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from([0xa0, 0x80]), fin: true });
    await expectCloseAndEnd(rw, 1007);
  });

  it('fail fast: an invalid byte in fragment 1 of 3 closes with 1007 before fragments 2 and 3 are sent', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from([0x48, 0x69, 0xc0, 0x80, 0x21]), fin: false });
    /* Fragments 2 and 3 are never sent: the close must come now. */
    await expectCloseAndEnd(rw, 1007);
  });

  it('fail fast: valid fragment 1, invalid fragment 2 of 3 closes with 1007 before fragment 3 is sent', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('κό', 'utf8'), fin: false });
    rw.send({ opcode: OP.CONT, payload: Buffer.from([0x73, 0xf4, 0x90, 0x80, 0x80]), fin: false });
    await expectCloseAndEnd(rw, 1007);
  });
});

describe('7: close handling', () => {
  // The valid and invalid lists are Autobahn's (cases 7.7.x and 7.9.x).
  // Autobahn 7.9.6-7.9.8 count 1012-1014 as invalid in a close a peer
  // sends, and so does wslay: wsd answers them with 1002.
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
    it(`close with code ${code} is echoed with ${code}`, T, async () => {
      const rw = await open();
      rw.close(code, 'bye');
      await expectCloseAndEnd(rw, code);
    });
  }

  for (const code of [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    it(`close with invalid code ${code} closes with 1002`, T, async () => {
      const rw = await open();
      rw.close(code);
      await expectCloseAndEnd(rw, 1002);
    });
  }

  it('close without a payload is answered with a close (no code or 1000)', T, async () => {
    const rw = await open();
    rw.close(null);
    await expectCloseAndEnd(rw, [null, 1000]);
  });

  it('close with a 1-byte payload closes with 1002', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) });
    await expectCloseAndEnd(rw, 1002);
  });

  it('close with a 123-byte reason (125-byte payload) is echoed with 1000', T, async () => {
    const rw = await open();
    rw.close(1000, 'r'.repeat(123));
    await expectCloseAndEnd(rw, 1000);
  });

  it('close with a 124-byte reason (126-byte payload) closes with 1002', T, async () => {
    const rw = await open();
    rw.close(1000, 'r'.repeat(124));
    await expectCloseAndEnd(rw, 1002);
  });

  it('close reason with invalid UTF-8 closes with 1007 (or 1002)', T, async () => {
    const rw = await open();
    rw.close(1000, Buffer.from([0x62, 0x79, 0x65, 0xc0, 0x80]));
    await expectCloseAndEnd(rw, [1007, 1002]);
  });

  it('text then close: the text is echoed, then the close', T, async () => {
    const rw = await open();
    rw.text('last words');
    rw.close(1000);
    await expectEcho(rw, OP.TEXT, Buffer.from('last words'));
    await expectCloseAndEnd(rw, 1000);
  });

  it('ping and close in one write: the pong, then the close', T, async () => {
    const rw = await open();
    rw.write(Buffer.concat([
      encodeFrame({ opcode: OP.PING, payload: Buffer.from('last') }),
      encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8]) }),
    ]));
    await expectPong(rw, Buffer.from('last'));
    await expectCloseAndEnd(rw, 1000);
  });

  it('a close frame written one byte at a time, with a UTF-8 reason, is echoed', T, async () => {
    const rw = await open();
    const frame = encodeFrame({ opcode: OP.CLOSE, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye €', 'utf8')]) });
    for (const b of frame) { rw.write(Buffer.from([b])); await new Promise((r) => setImmediate(r)); }
    await expectCloseAndEnd(rw, 1000);
  });

  it('close then ping: no pong after the close', T, async () => {
    const rw = await open();
    rw.close(1000);
    rw.ping(Buffer.from('too late'));
    await expectCloseAndEnd(rw, 1000);
  });

  it('close then text: no echo after the close', T, async () => {
    const rw = await open();
    rw.close(1000);
    rw.text('too late');
    await expectCloseAndEnd(rw, 1000);
  });

  it('fragment start, close, continuation: only the close comes back', T, async () => {
    const rw = await open();
    rw.send({ opcode: OP.TEXT, payload: Buffer.from('never'), fin: false });
    rw.close(1000);
    rw.send({ opcode: OP.CONT, payload: Buffer.from(' finished'), fin: true });
    await expectCloseAndEnd(rw, 1000);
  });

  it('two closes in a row: one close comes back', T, async () => {
    const rw = await open();
    rw.close(1000);
    rw.close(1001);
    await expectCloseAndEnd(rw, 1000);
  });
});

describe('9: small sizes and throughput', () => {
  it('1000 text messages of 16 bytes are echoed in order', T, async () => {
    const rw = await open();
    const msgs = [];
    for (let i = 0; i < 1000; i++) msgs.push(Buffer.from(`m${String(i).padStart(4, '0')}-abcdefghij`));
    const frames = Buffer.concat(msgs.map((p) => encodeFrame({ opcode: OP.TEXT, payload: p })));
    rw.write(frames);
    for (let i = 0; i < 1000; i++) await expectEcho(rw, OP.TEXT, msgs[i]);
    await closeNormally(rw);
  });

  it('1000 binary messages of 64 bytes are echoed in order', T, async () => {
    const rw = await open();
    const msgs = [];
    for (let i = 0; i < 1000; i++) msgs.push(crypto.randomBytes(64));
    const frames = Buffer.concat(msgs.map((p) => encodeFrame({ opcode: OP.BINARY, payload: p })));
    rw.write(frames);
    for (let i = 0; i < 1000; i++) await expectEcho(rw, OP.BINARY, msgs[i]);
    await closeNormally(rw);
  });

  it('a 64 KiB text message in 64-byte fragments is echoed as one message', T, async () => {
    const rw = await open();
    const p = textPayload(65536);
    const out = [];
    for (let off = 0; off < p.length; off += 64) {
      out.push(
        encodeFrame({
          opcode: off === 0 ? OP.TEXT : OP.CONT,
          payload: p.subarray(off, off + 64),
          fin: off + 64 >= p.length,
        }),
      );
    }
    rw.write(Buffer.concat(out));
    await expectEcho(rw, OP.TEXT, p);
    await closeNormally(rw);
  });

  it('a 128 KiB binary message in 4 KiB fragments is echoed as one message', T, async () => {
    const rw = await open();
    const p = crypto.randomBytes(131072);
    const out = [];
    for (let off = 0; off < p.length; off += 4096) {
      out.push(
        encodeFrame({
          opcode: off === 0 ? OP.BINARY : OP.CONT,
          payload: p.subarray(off, off + 4096),
          fin: off + 4096 >= p.length,
        }),
      );
    }
    rw.write(Buffer.concat(out));
    await expectEcho(rw, OP.BINARY, p, 10000);
    await closeNormally(rw);
  });
});

describe('shutdown', () => {
  it('SIGTERM: exit 0 within 5 s, no worker left behind, no sanitizer report', T, async () => {
    await stopCleanly(d);
  });
});
