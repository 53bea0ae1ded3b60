-- Helpers shared by the aggregatedSelection scripts (push_targets.lua, profile_targets.lua).
--
-- Each EventSource's script is one chunk: the CONFIG prelude written by
-- inventory/events/assets.py, this file, then the script itself. Everything here is
-- local to that chunk.
--
-- Portability: only Lua 5.1 features gopher-lua (the runtime sveltos-agent embeds)
-- implements, and nothing sveltos-agent may or may not preload (no json, no
-- base64Decode). Never depend on pairs() order, which differs between runtimes:
-- everything that reaches the output is sorted first.

local MAX_LABEL_VALUE = 63
local MAX_OBJECT_NAME = 253
local TWO_TO_32 = 4294967296

local function metadata_of(obj)
  return obj.metadata or {}
end

local function labels_of(obj)
  return metadata_of(obj).labels or {}
end

local function name_of(obj)
  return metadata_of(obj).name or ""
end

local function namespace_of(obj)
  return metadata_of(obj).namespace or ""
end

local function ref_of(obj)
  return namespace_of(obj) .. "/" .. name_of(obj)
end

local function nonempty(value)
  return type(value) == "string" and value ~= ""
end

local function ends_with(text, suffix)
  return #text >= #suffix and string.sub(text, -#suffix) == suffix
end

local function sorted_keys(map)
  local keys = {}
  for key in pairs(map) do
    table.insert(keys, key)
  end
  table.sort(keys)
  return keys
end

-- An empty list of namespaces means every namespace (as in direct mode).
local function namespace_selected(namespaces, namespace)
  if #namespaces == 0 then
    return true
  end
  for _, selected in ipairs(namespaces) do
    if selected == namespace then
      return true
    end
  end
  return false
end

local function contains(list, value)
  for _, item in ipairs(list or {}) do
    if item == value then
      return true
    end
  end
  return false
end

-- The trust routes of stack config (SPEC section 9; inventory/settings.py), baked into
-- CONFIG as data tables. CONFIG.any ("*") stands for any namespace.

-- settings._routed: `routes` (origin namespace or "*" -> allowed namespaces, "*" among
-- them meaning any) lets `origin` reach `target`.
local function routed(routes, origin, target)
  for _, key in ipairs({origin, CONFIG.any}) do
    local allowed = routes[key] or {}
    if contains(allowed, CONFIG.any) or contains(allowed, target) then
      return true
    end
  end
  return false
end

-- Settings.is_trusted_kubeconfig_source: Secrets of these namespaces are the operator's.
local function trusted_kubeconfig_source(namespace)
  local trusted = CONFIG.trustedKubeconfigNamespaces
  return contains(trusted, CONFIG.any) or contains(trusted, namespace)
end

-- Kubernetes naming rules, as inventory/names.py applies them in direct mode.

local function is_dns_label_part(text)
  return string.find(text, "^[a-z0-9][-a-z0-9]*$") ~= nil and string.find(text, "[a-z0-9]$") ~= nil
end

-- Why `name` cannot name an object (RFC 1123 subdomain, <= 253), or nil.
local function name_problem(name)
  if #name == 0 then
    return "name is empty"
  end
  if #name > MAX_OBJECT_NAME then
    return "name " .. name .. " is " .. #name .. " characters long, the limit is " .. MAX_OBJECT_NAME
  end
  for part in string.gmatch(name .. ".", "([^.]*)%.") do
    if not is_dns_label_part(part) then
      return "name " .. name .. " is not a DNS-1123 subdomain"
    end
  end
  return nil
end

-- Label values: <= 63 of [-A-Za-z0-9_.], alphanumeric at both ends; here never empty.
local function is_label_value(text)
  return #text >= 1 and #text <= MAX_LABEL_VALUE
    and string.find(text, "^[A-Za-z0-9][-A-Za-z0-9_.]*$") ~= nil
    and string.find(text, "[A-Za-z0-9]$") ~= nil
end

-- A short, stable digest (10 decimal digits). The arithmetic stays below 2^53, so it
-- is exact in the doubles both runtimes use for numbers.
local function digest(text)
  local hash = 5381
  for i = 1, #text do
    hash = (hash * 33 + string.byte(text, i)) % TWO_TO_32
  end
  local digits = ""
  for _ = 1, 10 do
    digits = tostring(hash % 10) .. digits
    hash = math.floor(hash / 10)
  end
  return digits
end

-- The name of a synthetic target. event-manager copies it into a label value
-- (eventtrigger.lib.projectsveltos.io/resourcename) of the objects it creates for the
-- target, so a longer name is shortened to a prefix plus a digest of the whole.
local function target_name(name)
  if #name <= MAX_LABEL_VALUE then
    return name
  end
  local head = string.gsub(string.sub(name, 1, MAX_LABEL_VALUE - 11), "[^a-z0-9]+$", "")
  return head .. "-" .. digest(name)
end

-- Base64 (standard alphabet, padded), as the API server encodes Secret data. Lua 5.1
-- has no bit operations: the 24-bit groups are built with arithmetic.
local BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local BASE64_VALUE = {}
for i = 1, #BASE64_ALPHABET do
  BASE64_VALUE[string.byte(BASE64_ALPHABET, i)] = i - 1
end
local PAD = string.byte("=")

local function base64_decode(encoded)
  if #encoded % 4 ~= 0 then
    return nil
  end
  local chunks = {}
  for i = 1, #encoded, 4 do
    local a, b, c, d = string.byte(encoded, i, i + 3)
    local va, vb = BASE64_VALUE[a], BASE64_VALUE[b]
    local vc, vd = BASE64_VALUE[c] or 0, BASE64_VALUE[d] or 0
    local last = i + 3 == #encoded
    if va == nil or vb == nil or (c ~= PAD and BASE64_VALUE[c] == nil)
        or (d ~= PAD and BASE64_VALUE[d] == nil)
        or ((c == PAD or d == PAD) and not last) or (c == PAD and d ~= PAD) then
      return nil
    end
    local group = va * 262144 + vb * 4096 + vc * 64 + vd
    local first, second, third = math.floor(group / 65536), math.floor(group / 256) % 256, group % 256
    if c == PAD then
      table.insert(chunks, string.char(first))
    elseif d == PAD then
      table.insert(chunks, string.char(first, second))
    else
      table.insert(chunks, string.char(first, second, third))
    end
  end
  return table.concat(chunks)
end

-- A top-level key of a block-style YAML document (at the start of a line) or a JSON
-- object (quoted).
local function has_top_level_key(text, key)
  return string.find("\n" .. text, "\n" .. key .. "[ \t]*:") ~= nil
    or string.find(text, '"' .. key .. '"%s*:') ~= nil
end

-- CONFIG.runnableKubeconfigFields: kubeconfig fields a reader acts on beyond presenting
-- static credentials: a command it runs (exec), a plugin it loads (auth-provider), files
-- it reads from its own disk (tokenFile, and client-certificate, client-key,
-- certificate-authority without -data); inventory/credentials/kubeconfig.py's list, in
-- lower case: the scan below lower-cases the text, since some decoders match field
-- names case-insensitively (Go's encoding/json). The credential templates repeat this
-- check when addon-controller copies the Secret (builders.py, static_only_patterns).
-- Characters that may continue a YAML plain scalar next to a field name: "exec" inside
-- "client-exec-x" or "certificate-authority" inside "certificate-authority-data" is
-- another field.
local NAME_CHAR = "[%w_%.%-]"

local function word_present(text, word)
  local start = 1
  while true do
    local first, last = string.find(text, word, start, true)
    if first == nil then
      return false
    end
    local before = first > 1 and string.sub(text, first - 1, first - 1) or " "
    local after = last < #text and string.sub(text, last + 1, last + 1) or " "
    if string.find(before, NAME_CHAR) == nil and string.find(after, NAME_CHAR) == nil then
      return true
    end
    start = first + 1
  end
end

-- Why the kubeconfig `text` may carry more than static credentials, or nil. Direct mode
-- parses the YAML (inventory/credentials/kubeconfig.py); gopher-lua has no YAML library,
-- so this refuses conservatively, on the text: any of the fields above appearing as a
-- word anywhere (a key, a value or a comment alike), and anything that could spell a
-- key without writing it out: escapes (backslash, in YAML double quotes and JSON),
-- tags (!, as in !!binary), and bytes outside printable ASCII (other encodings, and
-- characters some decoders fold into ASCII letters). A refusal is never a repair: the
-- kubeconfig is not used at all.
local function runnable_credentials_problem(text)
  if string.find(text, "[^\t\n\r -~]") ~= nil then
    return "has bytes outside printable ASCII"
  end
  if string.find(text, "\\", 1, true) ~= nil then
    return "has a backslash escape"
  end
  if string.find(text, "!", 1, true) ~= nil then
    return "has a YAML tag (!)"
  end
  local lowered = string.lower(text)
  local found = {}
  for _, field in ipairs(CONFIG.runnableKubeconfigFields) do
    if word_present(lowered, field) then
      table.insert(found, field)
    end
  end
  if #found > 0 then
    return "names " .. table.concat(found, ", ")
  end
  return nil
end

-- Why the base64 `encoded`, read from a Secret of namespace `source_namespace`, is not a
-- usable kubeconfig, or nil. Direct mode parses the YAML (inventory/kubeconfig.py); Lua
-- cannot, so this applies the same test (one of clusters/users/contexts, or apiVersion
-- v1 + kind Config) to the text's top-level keys. The known gap: broken YAML that still
-- has such a key line passes here (the consumer then gets an unusable kubeconfig, as
-- with seed 000); direct mode skips it. Outside trustedKubeconfigNamespaces, a
-- kubeconfig must carry static credentials only (runnable_credentials_problem).
local function kubeconfig_shape_problem(text)
  if string.find(text, "^%s*$") ~= nil then
    return "kubeconfig is empty"
  end
  for _, section in ipairs({"clusters", "users", "contexts"}) do
    if has_top_level_key(text, section) then
      return nil
    end
  end
  local framed = "\n" .. text .. "\n"
  if string.find(framed, "\napiVersion:[ \t]*[\"']?v1[\"']?[ \t]*\r?\n") ~= nil
      and string.find(framed, "\nkind:[ \t]*[\"']?Config[\"']?[ \t]*\r?\n") ~= nil then
    return nil
  end
  return "not a kubeconfig: no clusters, users or contexts, and not apiVersion v1 / kind Config"
end

local function kubeconfig_problem(encoded, source_namespace)
  local text = base64_decode(encoded)
  if text == nil then
    return "kubeconfig is not valid base64"
  end
  local problem = kubeconfig_shape_problem(text)
  if problem ~= nil or trusted_kubeconfig_source(source_namespace) then
    return problem
  end
  problem = runnable_credentials_problem(text)
  if problem ~= nil then
    return "kubeconfig " .. problem .. ": outside trustedKubeconfigNamespaces only static credentials"
      .. " (server, CA data, token, client certificate and key data) are accepted"
  end
  return nil
end

-- The result sveltos-agent decodes. An empty Lua table reaches Go as a JSON object,
-- which the agent cannot decode into its resource list: with nothing to emit,
-- `resources` is left out.
local function aggregated_result(targets, notes)
  local result = {}
  if #targets > 0 then
    result.resources = targets
  end
  if #notes > 0 then
    result.message = table.concat(notes, "; ")
  end
  return result
end
