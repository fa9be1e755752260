#!/usr/bin/env node
// A TCP relay that holds every chunk DELAY_MS before passing it on, both ways: a stand-in for
// `tc netem delay` on kernels built without netem (scripts/netns/setup.sh says which).
//
//   node delay-relay.mjs LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS
//
// Prints "relay listening" when ready. Chunks keep their order (equal delays, timers fire in
// order); a close or an error on either side closes the other after the pending chunks.
import { createServer, connect } from 'node:net';

const [listenHost, listenPort, targetHost, targetPort, delayText] = process.argv.slice(2);
const delayMs = Number(delayText);

function pipeDelayed(from, to) {
  from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), delayMs));
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  from.on('error', () => to.destroy());
  from.on('close', () => setTimeout(() => to.destroy(), delayMs + 1));
}

const server = createServer((client) => {
  client.setNoDelay(true);
  const upstream = connect(Number(targetPort), targetHost);
  upstream.setNoDelay(true);
  pipeDelayed(client, upstream);
  pipeDelayed(upstream, client);
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('relay listening\n'));
