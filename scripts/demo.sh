#!/usr/bin/env bash
# Demo data for `make run`, made with the operator commands; idempotent.
# Credentials are kept in .demo-credentials.json (git-ignored), reused while they verify, and
# printed each run.
set -euo pipefail
cd "$(dirname "$0")/.."
M=".venv/bin/python manage.py"
CREDS=.demo-credentials.json

$M create_market BTCUSDT --base BTC --quote USDT --tick 0.01 --step 0.00001 --min-qty 0.00001 \
  --min-notional 5 --maker-fee 0.001 --taker-fee 0.001 --price-band-pct 10 --if-missing >/dev/null
$M create_market ETHUSDT --base ETH --quote USDT --tick 0.01 --step 0.0001 --min-qty 0.0001 \
  --min-notional 5 --maker-fee 0.001 --taker-fee 0.001 --price-band-pct 10 --if-missing >/dev/null

# Operator (superadmin), one operator per role, traders alice and bob with API keys. Passwords
# and keys kept in .demo-credentials.json are reused while they still verify; otherwise new ones
# are made and the old demo keys revoked (admin_rbac/management/commands/demo_credentials.py).
$M demo_credentials --path "$CREDS" >/dev/null

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
  Trader UI                http://127.0.0.1:{port}/         alice / {c['alice']['password']}   bob / {c['bob']['password']}
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
