/**
 * The console script's event feed (browser JavaScript, kept as text; see ./index.ts): the events of
 * GET /v1/admin/events (API.md §16), oldest first, a page at a time, optionally of one type, each
 * with its webhook deliveries; an event with a failed delivery has a button "Redeliver"
 * (POST /v1/admin/events/:id/redeliver, 202 `{ event }`: a fresh round for every endpoint not yet
 * delivered; the row then shows the event as the answer has it).
 *
 * @example
 * location.hash = "#/events";
 */
export const EVENTS = String.raw`
const EVENT_TYPES = ["user.created", "user.upgraded", "user.updated", "user.disabled", "user.enabled", "user.deleted", "user.merged"];
const DELIVERY_TONES = { delivered: "ok", failed: "bad", pending: "warn" };
const feed = { type: "", events: [], nextCursor: null, loaded: false };
let feedRun = 0;

function eventSubject(event) {
  const data = event.data || {};
  const user = data.user || {};
  const parts = [];
  if (event.type === "user.deleted") {
    parts.push("User ", el("span", { class: "mono", text: String(user.id || "") }), data.reason ? " (" + data.reason + ")" : "");
  } else if (user.id) {
    parts.push("User ", el("a", { href: userLink(user.id), text: userName(user) }));
  }
  if (event.type === "user.merged" && data.guest && data.guest.id) parts.push(" · guest ", el("span", { class: "mono", text: String(data.guest.id) }), " merged in");
  return parts;
}

function eventRow(event) {
  const deliveries = Array.isArray(event.deliveries) ? event.deliveries : [];
  const failed = deliveries.some((d) => d.status === "failed");
  const list = el("ul", { class: "deliveries", "aria-label": "Deliveries" }, deliveries.map((d) => el("li", {},
    el("span", { class: "mono", text: d.endpoint }),
    el("span", { class: "badge " + (DELIVERY_TONES[d.status] || ""), "data-status": d.status, text: d.status }),
    el("span", { class: "muted", text: d.attempts + (d.attempts === 1 ? " attempt" : " attempts") }),
    d.lastError ? el("span", { class: "muted", text: d.lastError }) : null)));
  const row = el("li", { "data-event-id": event.id },
    el("div", { class: "line" }, el("strong", { text: event.type }), el("span", { class: "muted", text: "#" + event.sequence }), time(event.timestamp)),
    el("div", { class: "meta-line" }, eventSubject(event)),
    deliveries.length ? list : el("div", { class: "meta-line", text: "No webhook endpoints." }));
  if (failed) {
    const button = el("button", { type: "button", class: "secondary", text: "Redeliver" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const answer = await api("POST", "/v1/admin/events/" + encodeURIComponent(event.id) + "/redeliver");
        // The 202 carries the event with its deliveries as they now stand (pending again).
        const fresh = answer && answer.event ? answer.event : event;
        if (fresh === event) for (const d of deliveries) if (d.status !== "delivered") d.status = "pending";
        const index = feed.events.findIndex((e) => e.id === event.id);
        if (index >= 0) feed.events[index] = fresh;
        row.replaceWith(eventRow(fresh));
        say("Redelivery of " + event.type + " #" + event.sequence + " is queued.", "success", true);
      } catch (error) {
        button.disabled = false;
        fail(error);
      }
    });
    row.append(el("div", { class: "event-actions" }, button));
  }
  return row;
}

function renderEvents() {
  setNav("events");
  const mine = generation;
  const select = el("select", { id: "event-type" }, el("option", { value: "", text: "All types" }), EVENT_TYPES.map((t) => el("option", { value: t, text: t })));
  select.value = feed.type;
  const list = el("ol", { class: "list", "aria-label": "Events" });
  const card = el("div", { class: "card" }, list);
  const summary = el("p", { class: "muted small" });
  const more = el("button", { class: "secondary more", type: "button", text: "Load more", hidden: true });

  const draw = () => {
    card.hidden = feed.events.length === 0;
    list.replaceChildren(...feed.events.map(eventRow));
    summary.textContent = feed.events.length === 0 ? "No events" + (feed.type ? " of type " + feed.type : "") + "." : "Showing " + feed.events.length + (feed.nextCursor ? ", more after these" : "") + ".";
    more.hidden = !feed.nextCursor;
  };
  const run = async (reset) => {
    const me = ++feedRun;
    const params = new URLSearchParams({ limit: "50" });
    if (select.value) params.set("type", select.value);
    if (!reset && feed.nextCursor) params.set("after", feed.nextCursor);
    more.disabled = true;
    try {
      const page = await api("GET", "/v1/admin/events?" + params.toString());
      if (me !== feedRun || mine !== generation) return;
      feed.type = select.value;
      feed.events = reset ? page.events : feed.events.concat(page.events);
      feed.nextCursor = page.nextCursor;
      feed.loaded = true;
      draw();
    } catch (error) {
      if (me !== feedRun || mine !== generation) return;
      if (error.status === 404 && reset) summary.textContent = "This service has no event feed.";
      else fail(error);
    } finally {
      more.disabled = false;
    }
  };
  select.addEventListener("change", () => run(true));
  more.addEventListener("click", () => run(false));

  view.replaceChildren(
    el("div", { class: "head" }, el("div", {}, el("h1", { text: "Events" }), el("p", { class: "muted", text: "Every change to a user, oldest first, with its webhook deliveries." }))),
    el("div", { class: "toolbar" }, el("div", {}, el("label", { for: "event-type", text: "Type" }), select)),
    summary,
    card,
    more,
  );
  if (feed.loaded) draw();
  else run(true);
}
`;
