// xmpp_client_ws.mjs: drives @xmpp/client (a client nobody here wrote) against parley over WebSocket.
// usage: node xmpp_client_ws.mjs <service-url> <username|""> <password> <domain> <peer-jid> [mode]
//   mode "echo" (default): log in, send "hello from @xmpp/client" to peer-jid, wait for one chat message
//   back, print one JSON line {"jid", "got"} and exit 0. Exits 1 with {"error"} on failure or after 20 s.
//   mode "sm-kill": also enables stream management, and after the first message kills the socket and waits
//   for the library to resume (XEP-0198), then waits for a second message: {"jid","got","resumed"}.
import { WebSocket as WS } from "ws";
globalThis.WebSocket ??= WS;
const { client, xml } = await import("@xmpp/client");

const [service, username, password, domain, peer, mode = "echo"] = process.argv.slice(2);
const result = { got: [] };
const timer = setTimeout(() => fail(new Error("timeout")), 20000);

function fail(err) {
  console.log(JSON.stringify({ error: String(err && err.message ? err.message : err), ...result }));
  process.exit(1);
}

const xmpp = client({ service, domain, username: username || undefined, password: password || undefined,
  resource: "xmppjs" });
xmpp.on("error", fail);
let want = mode === "sm-kill" ? 2 : 1;
xmpp.on("stanza", async (st) => {
  if (!st.is("message") || !st.getChildText("body")) return;
  result.got.push(st.getChildText("body"));
  if (mode === "sm-kill" && result.got.length === 1) {
    xmpp.streamManagement.on("resumed", () => { result.resumed = true; xmpp.send(xml("message", { to: peer, type: "chat" },
      xml("body", {}, "resumed"))); });
    // the WebSocket goes away without <close/>, once the library has counted "first" as handled
    setTimeout(() => xmpp.socket.socket.close(), 200);
    return;
  }
  if (result.got.length >= want) {
    clearTimeout(timer);
    console.log(JSON.stringify(result));
    await xmpp.stop().catch(() => {});
    process.exit(0);
  }
});
xmpp.on("online", async (address) => {
  result.jid = address.toString();
  await xmpp.send(xml("presence"));
  await xmpp.send(xml("message", { to: peer, type: "chat" }, xml("body", {}, "hello from @xmpp/client")));
});
xmpp.start().catch(fail);
