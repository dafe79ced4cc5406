"""Which body a web site answers for a path, as nginx (ngx_http_core_find_location, ngx_conf_read_token),
Apache (mod_alias, DocumentRoot) and Caddy (respond, root + file_server) pick it."""

from __future__ import annotations

from hostview import servedfile
from pack_builders import copy_file, view_of

WEB = "web1.example.net"
NAME = "mta-sts.example.net"
PATH = "/.well-known/mta-sts.txt"


def answer_for(site: str, *files: tuple[str, str], path: str = PATH):
    resources = [copy_file(WEB, "/etc/nginx/sites-enabled/site.conf", site)]
    resources += [copy_file(WEB, where, text) for where, text in files]
    (answer,) = servedfile.answers(view_of(*resources), NAME, path)
    return answer


def server(body: str) -> str:
    return f"server {{\n listen 443 ssl;\n server_name {NAME};\n{body}\n}}\n"


def test_exact_location_wins_over_a_longer_prefix_and_a_regex() -> None:
    site = server(' root /srv/a;\n location = /.well-known/mta-sts.txt { return 200 "exact"; }\n'
                  ' location /.well-known/ { return 200 "prefix"; }\n location ~ \\.txt$ { return 200 "regex"; }')
    assert answer_for(site).text == "exact"


def test_a_regex_beats_a_plain_prefix_but_not_a_caret_tilde_prefix() -> None:
    regex = ' location ~ \\.txt$ { return 200 "regex"; }'
    assert answer_for(server(' location /.well-known/ { return 200 "prefix"; }\n' + regex)).text == "regex"
    assert answer_for(server(' location ^~ /.well-known/ { return 200 "prefix"; }\n' + regex)).text == "prefix"


def test_alias_maps_the_rest_of_the_path_and_root_prepends_itself() -> None:
    site = server(" root /srv/www;\n location /.well-known/ { alias /srv/sts/; }")
    answer = answer_for(site, ("/srv/sts/mta-sts.txt", "policy"))
    assert answer.text == "policy" and answer.origin.startswith("alias (line 5): /srv/sts/mta-sts.txt on ")
    assert answer_for(server(" root /srv/www;"), ("/srv/www" + PATH, "rooted")).text == "rooted"


def test_a_server_level_return_runs_before_any_location() -> None:
    site = server(' return 301 https://example.net$request_uri;\n location = /.well-known/mta-sts.txt { root /x; }')
    answer = answer_for(site)
    assert answer.text is None and answer.refused and "redirect" in answer.problem


def test_nginx_escapes_in_returned_text() -> None:
    site = server(" return 200 'a\\nb\\tc\\\\d\\'e\\x';")
    assert answer_for(site).text == "a\nb\tc\\d'e\\x"
    one_line = server(' location = /.well-known/mta-sts.txt { default_type text/plain; return 200 "v\\r\\n"; }')
    assert answer_for(one_line).text == "v\r\n"


def test_proxied_and_undelivered_files_are_not_known() -> None:
    assert "hands /.well-known/mta-sts.txt to an application" in answer_for(
        server(" location / { proxy_pass http://127.0.0.1:8080; }")).problem
    assert "which the stack does not deliver" in answer_for(server(" root /srv/www;")).problem


def test_plain_http_only_sites_do_not_answer_https() -> None:
    site = f"server {{\n listen 80;\n server_name {NAME};\n root /srv/www;\n}}\n"
    assert servedfile.answers(view_of(copy_file(WEB, "/etc/nginx/sites-enabled/site.conf", site)), NAME, PATH) == []


def test_wildcard_server_names_cover_one_label() -> None:
    assert servedfile.covers(("*.example.net",), NAME)
    assert not servedfile.covers(("*.example.net",), "a.mta-sts.example.net")


def test_apache_alias_before_document_root() -> None:
    vhost = (f"<VirtualHost *:443>\nServerName {NAME}\nSSLEngine on\nDocumentRoot /srv/www\n"
             "Alias /.well-known/ /srv/sts/\n</VirtualHost>\n")
    view = view_of(copy_file(WEB, "/etc/apache2/sites-enabled/sts.conf", vhost),
                   copy_file(WEB, "/srv/sts/mta-sts.txt", "aliased"))
    (answer,) = servedfile.answers(view, NAME, PATH)
    assert answer.text == "aliased"
