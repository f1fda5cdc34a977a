#!/usr/bin/env bash
# Demo data for `make run`, made with the operator commands; idempotent.
# Credentials are generated once into .demo-credentials.json (git-ignored) and printed each run.
set -euo pipefail
cd "$(dirname "$0")/.."
M=".venv/bin/python manage.py"
CREDS=.demo-credentials.json

$M create_market BTCUSDT --base BTC --quote USDT --tick 0.01 --step 0.00001 --min-qty 0.00001 \
  --min-notional 5 --maker-fee 0.001 --taker-fee 0.001 --price-band-pct 10 --if-missing >/dev/null
$M create_market ETHUSDT --base ETH --quote USDT --tick 0.01 --step 0.0001 --min-qty 0.0001 \
  --min-notional 5 --maker-fee 0.001 --taker-fee 0.001 --price-band-pct 10 --if-missing >/dev/null

if [ ! -f "$CREDS" ]; then
  pw() { .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(12))"; }
  OP_PW=$(pw); A_PW=$(pw); B_PW=$(pw)
  if ! $M shell --no-imports -c "from accounts.models import User; import sys; sys.exit(0 if User.objects.filter(username='operator').exists() else 1)"; then
    DJANGO_SUPERUSER_PASSWORD="$OP_PW" $M createsuperuser --noinput --username operator --email operator@example.com
  else
    $M shell --no-imports -c "from accounts.models import User; u=User.objects.get(username='operator'); u.set_password('$OP_PW'); u.save()"
  fi
  for who in alice:$A_PW bob:$B_PW; do
    name=${who%%:*}; pass=${who#*:}
    $M create_trader "$name" --password "$pass" --if-missing >/dev/null
    $M shell --no-imports -c "from accounts.models import User; u=User.objects.get(username='$name'); u.set_password('$pass'); u.save()"
  done
  A_KEY=$($M issue_api_key alice --permissions read,trade,withdraw --label demo)
  B_KEY=$($M issue_api_key bob --permissions read,trade --label demo)
  .venv/bin/python - "$OP_PW" "$A_PW" "$B_PW" "$A_KEY" "$B_KEY" > "$CREDS" <<'PY'
import json, sys
op, a, b, ak, bk = sys.argv[1:]
print(json.dumps({
    "operator": {"username": "operator", "password": op},
    "alice": {"username": "alice", "password": a, **json.loads(ak)},
    "bob": {"username": "bob", "password": b, **json.loads(bk)},
}, indent=2))
PY
  chmod 600 "$CREDS"
fi

# One operator per role (the superuser `operator` holds superadmin), with generated passwords
# kept in .demo-credentials.json (added to an older file too). One Python run: each manage.py
# start costs seconds.
$M shell --no-imports <<'PY'
import json, secrets
from accounts.models import User
from admin_rbac.services import Actor, roles_assign

path = ".demo-credentials.json"
creds = json.load(open(path))
actor = Actor.system("demo")
roles_assign(user=User.objects.get(username="operator"), roles=["superadmin"], actor=actor)
for role in ("viewer", "support", "finance", "risk"):
    name = f"op-{role}"
    entry = creds.get(name) or {"username": name, "password": secrets.token_urlsafe(12)}
    creds[name] = {**entry, "role": role}
    user = User.objects.filter(username=name).first() or User(username=name)
    user.set_password(entry["password"])
    user.save()
    roles_assign(user=user, roles=[role], actor=actor)
json.dump(creds, open(path, "w"), indent=2)
PY

for name in alice bob; do
  $M credit "$name" USDT 100000 --ref "demo-$name-usdt" >/dev/null
  $M credit "$name" BTC 2 --ref "demo-$name-btc" >/dev/null
  $M credit "$name" ETH 50 --ref "demo-$name-eth" >/dev/null
done

# Wallet: networks on the simulated chain, alice's BTC deposit address, and an outside address
# in her address book (its 24 h cool-down skipped by the operator command, for the demo).
$M wallet_network BTC BTC --name "Bitcoin (simulated)" --fee 0.0005 --min 0.001 --confirmations 2 \
  --auto-approve-below 0.01 --dual-approval-above 1 >/dev/null
$M wallet_network ETH ETH --name "Ethereum (simulated)" --fee 0.005 --min 0.01 --confirmations 2 >/dev/null
$M wallet_network USDT ETH --name "Tether on Ethereum (simulated)" --fee 1 --min 10 --confirmations 2 \
  --dual-approval-above 50000 >/dev/null
A_DEPOSIT=$($M deposit_address alice BTC | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['address'])")
A_OUTSIDE=simbtc1demo0alice0outside0wallet
$M address_book_add alice BTC "$A_OUTSIDE" --label "alice's own wallet" --cooldown-hours 0 >/dev/null

A_DEPOSIT="$A_DEPOSIT" A_OUTSIDE="$A_OUTSIDE" PORT="${PORT:-8000}" .venv/bin/python - <<'PY'
import json, os
c = json.load(open(".demo-credentials.json"))
port = os.environ["PORT"]
deposit, outside = os.environ["A_DEPOSIT"], os.environ["A_OUTSIDE"]
print(f"""
  Exchange running at      http://127.0.0.1:{port}/
  Back office (admin)      http://127.0.0.1:{port}/admin/   user {c['operator']['username']} / {c['operator']['password']}   (superadmin)
  Operators by role        """ + "\n                           ".join(
    f"{v['username']} / {v['password']}   ({v['role']})" for v in c.values() if "role" in v) + f"""
  Dashboard, kill switch   http://127.0.0.1:{port}/admin/dashboard/   http://127.0.0.1:{port}/admin/killswitch/
  Trader UI                http://127.0.0.1:{port}/trade/BTCUSDT/   log in as alice / {c['alice']['password']}   bob / {c['bob']['password']}
                           (the demo market maker keeps the BTCUSDT and ETHUSDT books live; DEMO_MARKET_MAKER=0 turns it off)
  REST API                 http://127.0.0.1:{port}/api/v3/
  alice API key            {c['alice']['api_key']}
  alice API secret         {c['alice']['secret']}
  bob API key              {c['bob']['api_key']}
  bob API secret           {c['bob']['secret']}
  (all of it is in .demo-credentials.json; Ctrl-C stops every process)

  Deposit, trade, withdraw (the chain is SIMULATED in PostgreSQL; see README "Wallet"):
    .venv/bin/python manage.py chain_deposit BTC {deposit} 0.5   # pay alice's deposit address
    .venv/bin/python manage.py chain_mine 2                      # 2 confirmations: credited within seconds
    trade in the UI or with alice's key, then withdraw with it (ccxt, sapi = BASE + "/sapi/v1"):
      ex.withdraw("BTC", 0.2, "{outside}")
    approve it as operator: http://127.0.0.1:{port}/admin/wallet/withdrawal/?queue=review
    .venv/bin/python manage.py chain_mine 2                      # the worker sent it; now confirmed
""")
PY
