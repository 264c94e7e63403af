"""The review widget in a real headless browser (Debian's chromium, driven by Selenium):
a caseworker on the portal's case page sees the streamed draft, its AI-generated label and
cited sources, opens a passage, edits the draft, and the decision is recorded. The widget's
data path (the API on the portal session) is also tested without a browser."""

from __future__ import annotations

import shutil
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from govai_plugin.models import AnswerJob, ApiClient, AuditEvent, Suggestion
from govai_plugin.services.access import grant
from govai_plugin.testing.waiting import DEADLINE
from tests.test_suggestions import (  # noqa: F401  (fixtures)
    configured,
    drafted,
    remote,
    rules,
    two_systems,
)

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (make install-browser installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(DEADLINE)
    yield driver
    driver.quit()


@pytest.fixture
def caseworker(django_user_model, rules):
    """A portal user who may review; the case systems' WIDGET_CLIENT "portal" reads collection "rules"."""
    portal, _ = ApiClient.create_with_key("portal")
    grant(portal, rules)
    user = django_user_model.objects.create_user("kask", password="not-used")
    user.user_permissions.add(Permission.objects.get(codename="change_suggestion"))
    return user


def origin(live_server) -> str:
    return live_server.url.replace("localhost", "127.0.0.1")  # the address the live server listens on


def sign_in(browser, live_server, user) -> str:
    """Sign ``user`` in and return the case page's URL."""
    client = Client()
    client.force_login(user)
    browser.get(f"{origin(live_server)}/static/govai_plugin/widget.css")  # a page of the origin, to set its cookie
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    return f"{origin(live_server)}/portal/cases/casesys/HB-2026-001/"


def wait(browser, css: str, seconds: float = DEADLINE):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, seconds).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def test_a_caseworker_reviews_a_suggestion_in_the_widget(drafted, browser, live_server, caseworker):
    from selenium.webdriver.common.by import By

    browser.get(sign_in(browser, live_server, caseworker))
    card = wait(browser, ".govai-suggestion[data-status='draft']")
    from govai_plugin.conf import govai_settings

    assert card.find_element(By.CSS_SELECTOR, ".govai-label").text == govai_settings.ANSWERS["LABEL"]
    text = card.find_element(By.CSS_SELECTOR, ".govai-text").text
    assert "[1]" in text and "income" in text
    card.find_element(By.CSS_SELECTOR, ".govai-cite[data-source='1']").click()
    passage = wait(browser, ".govai-passage")
    source = drafted.answer_job.sources[0]
    assert source["document_title"] in passage.text and source["text"][:40] in passage.text

    card.find_element(By.CSS_SELECTOR, ".govai-edit-button").click()
    area = wait(browser, "textarea.govai-edit")
    area.clear()
    area.send_keys("The applicant qualifies [1]. Ask for the tenancy agreement [2].")
    card.find_element(By.CSS_SELECTOR, ".govai-save").click()
    decided = wait(browser, ".govai-suggestion[data-status='edited']")
    assert "Ask for the tenancy agreement" in decided.find_element(By.CSS_SELECTOR, ".govai-text").text
    assert "by kask" in decided.find_element(By.CSS_SELECTOR, ".govai-decided").text

    drafted.refresh_from_db()
    assert drafted.status == "edited" and drafted.reviewer == "kask" and drafted.decided_via == "widget"
    assert "+The applicant qualifies [1]." in drafted.diff
    assert AuditEvent.objects.get(action="suggestion.decision").actor == "widget:kask"


def test_a_rejection_needs_a_reason_and_errors_are_shown(drafted, browser, live_server, caseworker):
    from selenium.webdriver.common.by import By

    browser.get(sign_in(browser, live_server, caseworker))
    card = wait(browser, ".govai-suggestion[data-status='draft']")
    card.find_element(By.CSS_SELECTOR, ".govai-reject").click()
    wait(browser, "textarea.govai-reason")
    card.find_element(By.CSS_SELECTOR, ".govai-confirm-reject").click()  # no reason given
    error = wait(browser, ".govai-suggestion .govai-error")
    assert "reason" in error.text
    browser.find_element(By.CSS_SELECTOR, "textarea.govai-reason").send_keys("Already decided on paper.")
    browser.find_element(By.CSS_SELECTOR, ".govai-confirm-reject").click()
    wait(browser, ".govai-suggestion[data-status='rejected']")
    drafted.refresh_from_db()
    assert drafted.status == "rejected" and drafted.reason == "Already decided on paper."


def test_the_draft_streams_in_and_model_output_is_shown_as_text_only(drafted, browser, live_server, caseworker):
    from selenium.webdriver.common.by import By

    job = drafted.answer_job
    hostile = 'Partial <img src=x onerror="document.title=\'pwned\'"> draft'
    AnswerJob.objects.filter(pk=job.pk).update(status="running", partial_text=hostile, answer_text="")
    Suggestion.objects.filter(pk=drafted.pk).update(status="drafting")
    browser.get(sign_in(browser, live_server, caseworker))
    card = wait(browser, ".govai-suggestion[data-status='drafting']")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, DEADLINE).until(lambda b: "Partial" in card.find_element(By.CSS_SELECTOR, ".govai-text").text)
    assert "<img" in card.find_element(By.CSS_SELECTOR, ".govai-text").text  # shown as text
    assert not browser.find_elements(By.CSS_SELECTOR, ".govai-suggestions img") and browser.title != "pwned"
    # the model finishes: the stream ends, the widget reloads with the actions
    AnswerJob.objects.filter(pk=job.pk).update(status="succeeded", partial_text="", answer_text=job.answer_text)
    Suggestion.objects.filter(pk=drafted.pk).update(status="draft")
    wait(browser, ".govai-suggestion[data-status='draft'] .govai-accept").click()
    wait(browser, ".govai-suggestion[data-status='accepted']")
    drafted.refresh_from_db()
    assert drafted.status == "accepted" and drafted.final_text == job.answer_text


def test_the_case_page_needs_the_review_permission(live_server, django_user_model, transactional_db):
    someone = django_user_model.objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(someone)
    assert client.get("/portal/cases/casesys/HB-2026-001/").status_code == 403
    assert client.get("/api/v1/suggestions").status_code == 403


def test_the_widget_shows_and_decides_only_what_its_case_systems_widget_client_may_see(two_systems, caseworker):
    """The widget's data path, as widget.js calls it on the portal session: the caseworker sees
    what the case system's WIDGET_CLIENT ("portal", reading "rules" only) may see."""
    session = Client()
    session.force_login(caseworker)
    missing = session.get(f"/api/v1/suggestions/{uuid.uuid4()}").json()
    assert session.get("/portal/cases/othersys/HB-2026-001/").status_code == 200  # the page; its data is the API's
    # casesys: sources in "rules". othersys: also in "other", which the portal may not read.
    # quietsys: its WIDGET_CLIENT "portal-quiet" does not exist (yet), so its abstention is not shown.
    visible = {"casesys"}
    assert {s["system"] for s in session.get("/api/v1/suggestions").json()} == visible
    for system, suggestion in two_systems.items():
        url = f"/api/v1/suggestions/{suggestion.uid}"
        listed = session.get(f"/api/v1/suggestions?system={system}&case=HB-2026-001").json()
        detail, stream = session.get(url), session.get(url + "/stream")
        if system in visible:
            assert [s["id"] for s in listed] == [str(suggestion.uid)] and detail.status_code == 200
            assert stream.status_code == 200 and b"event: done" in b"".join(stream.streaming_content)
        else:
            assert listed == [] and (detail.status_code, detail.json()) == (404, missing), system
            assert stream.status_code == 404 and stream.json() == missing, system
            refused = session.post(url + "/decision", {"action": "accept"}, content_type="application/json")
            assert refused.status_code == 404 and refused.json() == missing, system
    accepted = session.post(f"/api/v1/suggestions/{two_systems['casesys'].uid}/decision", {"action": "accept"},
                            content_type="application/json")
    assert accepted.status_code == 200 and accepted.json()["reviewer"] == "kask" and accepted.json()["decided_via"] == "widget"
    assert set(Suggestion.objects.values_list("system", "status")) == {
        ("casesys", "accepted"), ("othersys", "draft"), ("quietsys", "draft")}
    # each case system's WIDGET_CLIENT counts for that system only: one that reads nothing sees the
    # abstention (no sources) of its own system, and lends no access to the others
    ApiClient.create_with_key("portal-quiet")
    assert {s["system"] for s in session.get("/api/v1/suggestions").json()} == {"casesys", "quietsys"}
    assert session.get(f"/api/v1/suggestions/{two_systems['othersys'].uid}").status_code == 404
