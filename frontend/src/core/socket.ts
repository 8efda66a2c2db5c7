// One Socket.IO connection for the page; it reconnects by itself and reports its state.

import { io, type Socket } from "socket.io-client";

export type ConnectionState = "connecting" | "connected" | "disconnected" | "reconnecting";

/** Connect to the server that served the page (the token travels in the HttpOnly cookie). */
export function connectSocket(onState: (state: ConnectionState) => void): Socket {
  const token = new URLSearchParams(location.search).get("token") ?? undefined;
  const socket = io({ auth: token ? { token } : {}, transports: ["websocket", "polling"] });
  onState("connecting");
  socket.on("connect", () => onState("connected"));
  socket.on("disconnect", () => onState("disconnected"));
  socket.io.on("reconnect_attempt", () => onState("reconnecting"));
  return socket;
}
