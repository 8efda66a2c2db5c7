// Entry point: connects the socket, mounts the panels. The viewer issue fills this in.

import { connectSocket } from "./core/socket";

const label = document.getElementById("connection")!;
connectSocket((state) => {
  label.dataset.state = state;
  label.textContent = state;
});
