/**
 * The keep-alive agents of the AI client. Node's agent keeps the options a socket was created with
 * for the socket's whole life (its free, close, timeout and remove listeners hold them), and got
 * hands it every option it knows, most of them undefined: about 3 KB of V8 heap per open socket,
 * the object having gone into dictionary mode. A socket of these agents keeps only the options
 * that are set; a property left out reads as undefined, as it did.
 */
import { Agent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';

/** The options with a defined value (their own enumerable properties, symbols included). */
export function definedOptions(options: Record<PropertyKey, unknown>): Record<PropertyKey, unknown> {
  const out: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(options)) {
    if (!Object.prototype.propertyIsEnumerable.call(options, key)) continue;
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

type CreateSocket = (req: unknown, options: Record<PropertyKey, unknown>, cb: unknown) => unknown;

/** Makes `agent`'s new sockets keep only the options that are set; returns it. */
function lean<A extends Agent>(agent: A): A {
  const a = agent as unknown as { createSocket: CreateSocket };
  const create = a.createSocket;
  a.createSocket = function createSocket(this: unknown, req, options, cb) {
    return create.call(this, req, definedOptions(options), cb);
  };
  return agent;
}

/** An http agent whose sockets keep only the connection options that are set. */
export const leanHttpAgent = (options: AgentOptions): Agent => lean(new Agent(options));

/** An https agent whose sockets keep only the connection options that are set. */
export const leanHttpsAgent = (options: HttpsAgentOptions): HttpsAgent => lean(new HttpsAgent(options));
