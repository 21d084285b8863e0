"""Every customer and staff page in Debian's chromium, checked the way a person with a
phone, a keyboard or a screen reader meets it: axe-core (installed from npm by
`./install.sh test` into tests/.axe) finds no serious or critical violation; at 375 px
and 1920 px nothing scrolls sideways and no visible control is under 44 x 44 px; a
design is chosen and ordered with Tab and Enter alone in a bounded number of Tabs, focus
staying on what was acted on; a round's progress is announced by stage, not by percent;
the example descriptions fill the box and capped text counts down."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from appliance import cli
from appliance.config import load_settings
from appliance.ops.models import ModelStore
from appliance.studio import styles, training_queue
from pipelines.prompts import caption
from tests.browser.test_order_loop import watch
from tests.conftest import STAFF_PASSWORD
from tests.http.test_styles_page import safetensors_bytes
from tests.http.test_workers_page import seed_fleet
from tests.live import LiveServer, wait_for_job_over_http
from tests.unit.test_styles import photo

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1920, "height": 1080}}
# Keyboard only, from a freshly opened design page to the order sent: the skip link, the
# second concept, the rest of the newest round and its tools (more like this, refine,
# paint, photo), the order bar's link (which lands on the name field), e-mail, phone,
# notes, send. 22 Tabs in all when written; before issue 13 it took 29 Tabs to reach
# the name field alone.
TAB_BOUND = 24

# Every page route without a path parameter is visited as it is (home, find my order,
# the staff inbox, price book, people, account, audit, and whatever is added later).
# Those with one are filled in here; a new one missing here fails
# test_every_page_route_is_checked.
PARAM_PAGES = {"/d/{design_id}": "/d/{design_id}", "/d/{design_id}/compare": "/d/{design_id}/compare?a={a}&b={b}",
               "/o/{token}": "/o/{token}", "/o/{token}/quote": "/o/{token}/quote",
               "/kiosk/pair/{token}": "/kiosk/pair/not-a-pairing-token",
               "/staff/orders/{number}": "/staff/orders/{number}",
               "/staff/orders/{number}/work-order": "/staff/orders/{number}/work-order",
               "/staff/styles/{style_id}": "/staff/styles/{style_id}"}
# GET routes that answer no page: files, pictures, fragments, CSV, the branding stylesheet.
NOT_PAGES = re.compile(r"\.(png|jpg|csv|css)$|/attachments/|/gallery$|/inbox-rows$|/branding/|^/healthz$"
                       r"|^/openapi.json$|^/staff/openapi.json$|/api/"
                       r"|^/staff/styles/\{style_id\}/(photos/|samples/|progress$)"
                       r"|^/staff/workers/live$|^/staff/internal/")


def all_routes(routes):
    """Every route, those of included routers too."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from all_routes(route.original_router.routes)
        else:
            yield route


def page_routes(app) -> set[str]:
    """The GET routes of an app that answer an HTML page."""
    found = set()
    for route in all_routes(app.routes):
        path = getattr(route, "path", "")
        if "GET" in (getattr(route, "methods", None) or ()) and path and not NOT_PAGES.search(path) \
                and "{rest:path}" not in path:
            found.add(path)
    return found


@pytest.fixture
def shop(servers, jeweler, settings, store):
    """An ordered design and a design with its concepts drawn, on the real servers, and
    the page routes of both apps."""
    customer_url, staff_url = servers
    customer_app, staff_app = cli.build_apps(settings, store)
    ordered = httpx.post(customer_url + "/api/v1/designs", json={
        "description": "platinum ring with a 1 carat round diamond, size 6"}).json()
    image_id = wait_for_job_over_http(customer_url, ordered["job"]["id"])["images"][0]["id"]
    order = httpx.post(f"{customer_url}/api/v1/designs/{ordered['id']}/order", json={
        "image_id": image_id, "spec_revision": ordered["spec_revision"], "name": "Ana Lima",
        "email": "ana@example.com", "notes": "Engraving inside, please"}).json()
    design = httpx.post(customer_url + "/api/v1/designs", json={
        "description": "14k rose gold ring, 1.5 carat oval lab diamond, tiny diamonds on the band, size 6"}).json()
    concepts = wait_for_job_over_http(customer_url, design["job"]["id"])["images"]
    return {"customer": customer_url, "staff": staff_url, "design_id": design["id"], "token": order["token"],
            "number": order["number"], "a": concepts[0]["id"], "b": concepts[1]["id"],
            "style_id": seed_style(settings, store),
            "customer_routes": page_routes(customer_app), "staff_routes": page_routes(staff_app)}


def seed_style(settings, store) -> str:
    """An installed style LoRA, and a style being made: trained part way and stopped, with
    its loss curve and samples, confirmed photos, and one photo whose line is unreadable."""
    lora = settings.data_dir / "house.safetensors"
    lora.write_bytes(safetensors_bytes())
    ModelStore(settings.models_dir, settings.manifest_path).import_style("house", lora, "dmrhouse", 0.8)
    style = styles.create(store, "house-classic", "dmrclassic", 600, actor="jeweler")
    folder = settings.training_dir
    for i, line in enumerate(["white gold oval halo ring", "rose gold band", "yellow gold solitaire ring",
                              "platinum pendant", "sterling silver hoop earrings"]):
        kept = styles.add_photo(store, folder, style.id, f"{line}.jpg", photo(70 + i), caption)
        styles.confirm_photo(store, style.id, kept.id, kept.line, caption, actor="jeweler")
    styles.queue(store, style.id)
    training_queue.claim_next(store, "seed", folder)
    training_queue.report(store, style.id, [(step, 0.2 + 0.1 / step ** 0.5) for step in range(1, 401)])
    for step in (0, 400):
        names = [f"{style.id}/samples/step-{step:06d}-{i}.png" for i in range(len(training_queue.VALIDATION_LINES))]
        for index, name in enumerate(names):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(photo(step + index, size=(256, 256), fmt="PNG"))
        training_queue.record_samples(store, style.id, step, names)
    training_queue.finish(store, style.id, "cancelled")
    styles.add_photo(store, folder, style.id, "IMG_2041.jpg", photo(90), caption)
    return style.id


def urls(shop, routes: set[str], base: str) -> dict[str, str]:
    """The address of each page route, parameters filled in from the shop."""
    values = {k: shop[k] for k in ("design_id", "token", "number", "a", "b", "style_id")}
    return {path: base + PARAM_PAGES.get(path, path).format(**values) for path in sorted(routes)}


def customer_urls(shop) -> dict[str, str]:
    pages = urls(shop, shop["customer_routes"], shop["customer"])
    pages["not found"] = shop["customer"] + "/d/no-such-design-aaaaaaaaaaaaaaaa"
    return pages


def staff_urls(shop) -> dict[str, str]:
    pages = urls(shop, shop["staff_routes"] - {"/staff/login"}, shop["staff"])
    pages["staff not found"] = shop["staff"] + "/staff/orders/99999"
    return pages


def log_in(page, staff_url: str, username: str) -> None:
    page.goto(staff_url + "/staff/login")
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#login")
    expect(page.locator("#account-link")).to_be_visible()


def axe_problems(page) -> list[str]:
    """Serious and critical axe-core violations on the page, one line each."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
          .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(', ')}`);
    }""")
    return result


# Controls a finger or a pointer aims at. Links inside running text are exempt (WCAG
# 2.5.8's inline exception); links that act as buttons or navigation are not. A checkbox
# is measured by its label, which is its hit area.
CONTROL_SIZES = """() => {
  const selector = 'button, a.button, nav a, .topbar a, [role=button], input:not([type=hidden]), select, textarea, summary';
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    let box = el;
    if (el.matches('input[type=checkbox], input[type=radio]')) box = el.closest('label') || el;
    const rect = box.getBoundingClientRect();
    const style = getComputedStyle(box);
    if (rect.width < 2 || rect.height < 2 || style.visibility === 'hidden') continue;     // not shown
    // Off screen: a skip link until it is focused.
    if (rect.right <= 0 || rect.bottom <= 0 || rect.left >= document.documentElement.scrollWidth) continue;
    if (el.closest('.sr-only, .visually-hidden, [hidden]')) continue;
    if (rect.width < 44 || rect.height < 44) {
      const name = (el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + [...el.classList].join('.'))
        + ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30) + '"';
      out.push(`${name} ${Math.round(rect.width)}x${Math.round(rect.height)}`);
    }
  }
  return out;
}"""


def layout_problems(page) -> list[str]:
    """Sideways scrolling and controls under 44 x 44 px."""
    problems = []
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'))""")
        problems.append(f"scrolls sideways: {width[0]} px wide in {width[1]} ({', '.join(wide)})")
    small = page.evaluate(CONTROL_SIZES)
    if small:
        problems.append("controls under 44 px: " + "; ".join(small))
    return problems


def check_pages(page, urls: dict[str, str], size: str) -> list[str]:
    failures = []
    for name, url in urls.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        for problem in axe_problems(page) + layout_problems(page):
            failures.append(f"{name} at {size} ({url}): {problem}")
    return failures


def test_every_page_route_is_checked(settings, store):
    customer_app, staff_app = cli.build_apps(settings, store)
    routes = page_routes(customer_app) | page_routes(staff_app)
    assert {"/", "/d/{design_id}", "/find", "/o/{token}", "/o/{token}/quote", "/staff/login", "/staff/",
            "/staff/orders/{number}", "/staff/orders/{number}/work-order", "/staff/price-book", "/staff/people",
            "/staff/account", "/staff/audit"} <= routes
    missing = {path for path in routes if "{" in path and path not in PARAM_PAGES}
    assert not missing, f"page routes with a parameter this test cannot fill in: {sorted(missing)}"


@pytest.mark.parametrize("size", VIEWPORTS)
def test_every_page_passes_axe_fits_the_screen_and_has_big_enough_controls(shop, browser, jeweler, size):
    assert AXE.is_file(), f"axe-core is not at {AXE}: run ./install.sh test (npm install --prefix tests/.axe axe-core@4)"
    problems: list[str] = []
    context = browser.new_context(viewport=VIEWPORTS[size], bypass_csp=True)
    page = context.new_page()
    watch(page, problems)
    failures = check_pages(page, customer_urls(shop), size)
    failures += check_pages(page, {"staff login": shop["staff"] + "/staff/login"}, size)
    log_in(page, shop["staff"], jeweler)
    failures += check_pages(page, staff_urls(shop), size)
    context.close()
    assert not failures, "\n".join(failures)
    # Error pages answer 4xx on purpose; anything else in the console (a script error, a
    # blocked style or script) is a fault.
    assert not [p for p in problems if not p.startswith("Failed to load resource")], problems


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_our_styles_pages_pass_axe_and_fit_the_screen(shop, browser, jeweler, size):
    """Our style and one style's page (photos, loss chart, samples) alone: quick to rerun."""
    context = browser.new_context(viewport=VIEWPORTS[size], bypass_csp=True)
    page = context.new_page()
    log_in(page, shop["staff"], jeweler)
    pages = {path: url for path, url in staff_urls(shop).items() if path.startswith("/staff/styles")}
    assert set(pages) == {"/staff/styles", "/staff/styles/{style_id}"}
    failures = check_pages(page, pages, size)
    context.close()
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_workers_page_passes_axe_and_fits_the_screen(shop, browser, jeweler, store, settings, running_worker,
                                                        size):
    """Workers alone, with GPU workers drawing, silent and never connected, this box's
    worker, and rounds waiting and being drawn; and its 3 s refresh swaps in cleanly."""
    running_worker.stop()                       # the rounds seeded here stay waiting
    seeded = seed_fleet(store, settings)
    context = browser.new_context(viewport=VIEWPORTS[size], bypass_csp=True)
    page = context.new_page()
    problems: list[str] = []
    watch(page, problems)
    log_in(page, shop["staff"], jeweler)
    failures = check_pages(page, {"/staff/workers": shop["staff"] + "/staff/workers"}, size)
    expect(page.locator(f"#waiting-{seeded['waiting'][0][:6]}")).to_contain_text("1 (next)")
    expect(page.locator("#worker-gpu-3-state")).to_contain_text("Not answering")
    # The page refreshes itself every 3 s: wait for that poll's answer, then check the page again.
    with page.expect_response(lambda r: r.url.endswith("/staff/workers/live"), timeout=10_000) as polled:
        page.wait_for_timeout(0)
    assert polled.value.status == 200
    page.wait_for_load_state("networkidle")
    failures += [f"/staff/workers at {size} after a refresh: {p}" for p in axe_problems(page) + layout_problems(page)]
    expect(page.locator("#worker-gpu-1-state")).to_contain_text("Drawing job")
    context.close()
    assert not failures, "\n".join(failures)
    assert not [p for p in problems if not p.startswith("Failed to load resource")], problems


def tab_to(page, predicate_js: str, limit: int = 60) -> int:
    """Press Tab until the focused element satisfies `predicate_js` (a function of the
    element); the number of Tabs it took."""
    for count in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"({predicate_js})(document.activeElement)"):
            return count
    focused = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"not reached in {limit} Tabs; focus is on {focused}")


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_a_design_is_ordered_with_the_keyboard_alone_in_a_bounded_number_of_tabs(shop, browser, size):
    problems: list[str] = []
    page = browser.new_context(viewport=VIEWPORTS[size]).new_page()
    watch(page, problems)
    page.goto(f"{shop['customer']}/d/{shop['design_id']}")
    expect(page.locator(".thumb")).to_have_count(4)
    tabs = tab_to(page, "e => e.classList.contains('skip-link')")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    tabs += tab_to(page, "e => e.classList.contains('thumb') && e.getAttribute('aria-pressed') === 'false'")
    concept = focused_id(page)
    assert concept.startswith("concept-")
    page.keyboard.press("Enter")
    expect(page.locator(f"#{concept}")).to_have_attribute("aria-pressed", "true")
    assert focused_id(page) == concept, "Enter on a concept must leave focus on that concept"

    tabs += tab_to(page, "e => e.id === 'order-bar-go'")
    page.keyboard.press("Enter")
    assert focused_id(page) == "order-name"
    page.keyboard.type("Ana Lima")
    tabs += tab_to(page, "e => e.id === 'order-email'")
    page.keyboard.type("ana@example.com")
    tabs += tab_to(page, "e => e.id === 'place-order'")
    print(f"\n{size}: {tabs} Tabs from the page's top to 'Send my order'")
    assert tabs <= TAB_BOUND, f"{tabs} Tabs to order a design (bound {TAB_BOUND})"
    chosen = page.locator(f"#{concept} img").get_attribute("src")
    page.keyboard.press("Enter")
    expect(page.locator("h1").first).to_contain_text("is received")
    assert page.locator(".hero-image").get_attribute("src").split("/")[-1].split(".")[0] in chosen
    assert not problems, problems


def test_a_materials_change_keeps_focus_on_the_changed_field(shop, browser):
    page = browser.new_context(viewport=VIEWPORTS["phone"]).new_page()
    page.goto(f"{shop['customer']}/d/{shop['design_id']}")
    total = page.locator("#quote-total").inner_text()
    page.focus("#metal")
    page.keyboard.press("ArrowDown")                     # a new metal: the panel is redrawn
    expect(page.locator("#quote-total")).not_to_have_text(total)
    assert focused_id(page) == "metal"
    # The order bar shows the same total as the panel.
    expect(page.locator("#order-bar [data-mirror]")).to_have_text(page.locator("#quote-total").inner_text())
    page.focus("#band_width_mm")
    page.fill("#band_width_mm", "3")
    page.keyboard.press("Tab")                           # change fires as focus leaves; focus goes on
    expect(page.locator("#band_width_mm")).to_have_value(re.compile(r"^3(\.0)?$"))
    page.wait_for_load_state("networkidle")
    assert focused_id(page) == "band_thickness_mm"


def test_a_round_is_announced_by_stage_not_by_percent(shop, browser):
    page = browser.new_context(viewport=VIEWPORTS["desktop"]).new_page()
    page.goto(f"{shop['customer']}/d/{shop['design_id']}")
    page.evaluate("""() => {
        window.said = [];
        const region = document.getElementById('job-announcer');
        new MutationObserver(() => window.said.push(region.textContent))
          .observe(region, {childList: true, characterData: true, subtree: true});
    }""")
    assert page.get_attribute("#job-announcer", "aria-live") == "polite"
    page.fill("#instruction", "thinner band")
    page.focus("#refine")
    page.keyboard.press("Enter")
    expect(page.locator("#job-announcer")).to_have_text("Your new concepts are ready.", timeout=30_000)
    said = page.evaluate("window.said")
    assert said and not [s for s in said if "%" in s], said
    assert len(said) <= 3, said                      # waiting / drawing / ready, each once at most
    expect(page.locator(".round")).to_have_count(2)
    # Refine is disabled while the round draws, then the status box goes: focus followed
    # (status box, then the newest chosen concept) rather than falling to the page's top.
    page.wait_for_load_state("networkidle")
    focused = focused_id(page)
    assert focused == "refine" or focused.startswith("concept-"), focused


def test_examples_fill_the_description_and_capped_text_counts_down(shop, browser):
    page = browser.new_context(viewport=VIEWPORTS["phone"]).new_page()
    page.goto(shop["customer"] + "/")
    example = page.locator("#example-2")
    example.focus()
    page.keyboard.press("Enter")
    assert focused_id(page) == "description"
    expect(page.locator("#description")).to_have_value(re.compile("^Sterling silver pendant"))
    length = len(page.input_value("#description"))
    expect(page.locator("#description-count")).to_have_text(f"{length} / 2000 characters")
    assert "description-count" in page.get_attribute("#description", "aria-describedby")
    page.fill("#description", "x" * 1790)
    expect(page.locator("#description-count")).to_have_text("1790 / 2000 characters")
    expect(page.locator("#description-limit")).to_have_text("")
    page.locator("#description").press("End")
    page.keyboard.type("y" * 10)                     # 200 left: said once, not at every key
    expect(page.locator("#description-limit")).to_have_text("200 characters left.")
    page.keyboard.type("y" * 5)
    expect(page.locator("#description-count")).to_have_text("1805 / 2000 characters")
    expect(page.locator("#description-limit")).to_have_text("200 characters left.")
    page.fill("#description", "z" * 2100)           # a long paste is cut at the cap, and says so
    expect(page.locator("#description-limit")).to_contain_text("Limit reached: 2000 characters")
    expect(page.locator("#description-count")).to_have_class(re.compile("full"))


def test_a_store_s_light_accent_is_darkened_and_its_logo_shown(tmp_path, browser, running_worker):
    data = tmp_path / "branded"
    data.mkdir()
    (data / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40">'
                                   '<rect width="160" height="40" fill="#f0c040"/></svg>')
    settings = load_settings(data, generator="sketch", image_size=256, store_name="Maison Or",
                             store_logo="logo.svg", accent_colour="#f0c040")
    store = cli.open_appliance(settings)
    customer_app, _ = cli.build_apps(settings, store)
    try:
        with LiveServer(customer_app) as server:
            page = browser.new_context(viewport=VIEWPORTS["desktop"], bypass_csp=True).new_page()
            page.goto(server.url + "/")
            logo = page.locator(".brand img.logo")
            expect(logo).to_have_attribute("alt", "Maison Or")
            assert page.evaluate("document.querySelector('.brand img').naturalWidth") == 160
            accent = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
            assert accent and accent != "#f0c040"
            assert page.evaluate("getComputedStyle(document.querySelector('#generate')).backgroundColor") != "rgb(240, 192, 64)"
            assert not axe_problems(page)
    finally:
        store.close()


def test_a_staff_action_leaves_focus_in_the_redrawn_panel_not_at_the_top(shop, browser, jeweler):
    page = browser.new_context(viewport=VIEWPORTS["desktop"]).new_page()
    log_in(page, shop["staff"], jeweler)
    page.goto(f"{shop['staff']}/staff/orders/{shop['number']}")
    page.focus("#do-accept")
    page.keyboard.press("Enter")                        # the accept form goes with the redraw
    expect(page.locator("#order-status")).to_have_text("Accepted")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("!!document.activeElement.closest('#order-panel')"), \
        page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    page.focus("#messages-body")
    page.keyboard.type("Your ring goes to the bench on Monday.")
    page.focus("#do-messages")
    page.keyboard.press("Enter")
    expect(page.locator("#order-panel")).to_contain_text("bench on Monday")
    page.wait_for_load_state("networkidle")
    assert focused_id(page) == "do-messages"
