// The console's side of the wire contract: every payload in or out is checked against the
// JSON schema generated from signaling/messages.py (protocol.js), so a drifted field shows up
// as a readable error instead of an ``undefined`` deep in the call code.

import { SCHEMAS } from "./protocol.js";

export class ProtocolError extends Error {}

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.replace("#/$defs/", "");
    const target = root.$defs && root.$defs[name];
    if (!target) throw new ProtocolError(`schema reference ${schema.$ref} not found`);
    return target;
  }
  return schema;
}

function typeOk(type, value) {
  switch (type) {
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
    default:
      return true;
  }
}

/** The first problem of ``value`` against ``schema`` (a JSON-schema subset), or null. */
function problem(value, schemaIn, root, where) {
  const schema = resolve(schemaIn, root);
  if (schema.anyOf) {
    const ok = schema.anyOf.some((option) => problem(value, option, root, where) === null);
    return ok ? null : `${where}: does not match any allowed form`;
  }
  if (schema.type && !typeOk(schema.type, value)) return `${where}: expected ${schema.type}`;
  if (schema.enum && !schema.enum.includes(value)) {
    return `${where}: must be one of ${schema.enum.join(", ")}`;
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength) return `${where}: too short`;
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `${where}: too long`;
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) return `${where}: wrong format`;
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) return `${where}: below ${schema.minimum}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `${where}: above ${schema.maximum}`;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return `${where}: too few items`;
    if (schema.items) {
      for (let i = 0; i < value.length; i += 1) {
        const p = problem(value[i], schema.items, root, `${where}[${i}]`);
        if (p) return p;
      }
    }
  }
  if (schema.type === "object" && typeOk("object", value)) {
    const props = schema.properties || {};
    for (const name of schema.required || []) {
      if (!Object.hasOwn(value, name)) return `${where}.${name}: missing`;
    }
    for (const [name, item] of Object.entries(value)) {
      if (!Object.hasOwn(props, name)) {
        if (schema.additionalProperties === false) return `${where}.${name}: unknown field`;
        continue;
      }
      const p = problem(item, props[name], root, `${where}.${name}`);
      if (p) return p;
    }
  }
  return null;
}

function check(direction, event, payload) {
  const schema = SCHEMAS[direction][event];
  if (!schema) throw new ProtocolError(`"${event}" is not a ${direction.replaceAll("_", " ")} event`);
  const p = problem(payload, schema, schema, event);
  if (p) throw new ProtocolError(p);
  return payload;
}

/** Check a payload the server sent; throws :class:`ProtocolError` naming the first problem. */
export function incoming(event, payload) {
  return check("server_to_clerk", event, payload);
}

/** Check a payload before sending it, so a console bug never reaches the server as noise. */
export function outgoing(event, payload) {
  return check("clerk_to_server", event, payload);
}
