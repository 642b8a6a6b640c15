#!/usr/bin/env bash
# Writes a new user's workspace values, deployments/<name>/values.yaml, from
# templates/user-values-template.yaml, after checking every argument.
#
#   scripts/provision-user.sh [--force] [--dir DIR] NAME GITHUB_USER "FULL NAME" EMAIL DOMAIN
#   scripts/provision-user.sh john john-doe "John Doe" john@company.com dev.company.com
#
#   NAME         DNS label naming the user's objects and host (john -> john.DOMAIN)
#   GITHUB_USER  GitHub login(s) allowed in through OAuth2, comma-separated
#   FULL NAME    for git commits (GIT_USER_NAME)
#   EMAIL        for git commits (GIT_USER_EMAIL)
#   DOMAIN       parent DNS name of the workspace hosts
#
#   --dir DIR    write DIR/<name>/values.yaml instead of deployments/<name>/values.yaml
#   --force      overwrite an existing values file
#
# Refuses bad input with a message naming the argument and exits 2; refuses
# to overwrite an existing user without --force (exit 1).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
template="$root/templates/user-values-template.yaml"
outdir="$root/deployments"
force=no

die() { echo "provision-user: $*" >&2; exit 2; }
usage() {
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=yes; shift ;;
	--dir) [ $# -ge 2 ] || usage; outdir=$2; shift 2 ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
[ $# -eq 5 ] || { echo "provision-user: expected 5 arguments, got $#" >&2; usage; }

name=$1 github=$2 fullname=$3 email=$4 domain=$5

# NAME: a DNS label (RFC 1123) starting with a letter, short enough that
# "<name>-workspace-oauth2" and friends stay within 63 characters.
label_re='^[a-z]([-a-z0-9]*[a-z0-9])?$'
[[ $name =~ $label_re ]] ||
	die "invalid NAME '$name': must be a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-')"
[ ${#name} -le 40 ] || die "invalid NAME '$name': at most 40 characters"

# GITHUB_USER: GitHub logins are letters, digits and single hyphens; '_'
# appears in Enterprise Managed Users' logins (handle_shortcode).
gh_re='^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$'
[[ $github != ,* && $github != *, ]] || die "invalid GITHUB_USER '$github': empty login in the list"
IFS=',' read -r -a logins <<<"$github"
[ ${#logins[@]} -gt 0 ] || die "invalid GITHUB_USER '': give at least one GitHub login"
for login in "${logins[@]}"; do
	[[ $login =~ $gh_re ]] ||
		die "invalid GITHUB_USER '$login': a GitHub login is 1-39 letters, digits, '-' or '_'"
done

# FULL NAME: free text, but one line of printable characters.
[ -n "${fullname//[[:space:]]/}" ] || die "invalid FULL NAME: must not be empty"
[ ${#fullname} -le 100 ] || die "invalid FULL NAME: at most 100 characters"
[[ $fullname != *[[:cntrl:]]* ]] || die "invalid FULL NAME: control characters (newlines, tabs) are not allowed"

# DOMAIN: a lower-case DNS name with at least two labels.
domain_re='^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$'
[[ $domain =~ $domain_re ]] ||
	die "invalid DOMAIN '$domain': must be a lower-case DNS name such as dev.example.com"
host="$name.$domain"
[ ${#host} -le 253 ] || die "invalid DOMAIN '$domain': host name $host is longer than 253 characters"

# EMAIL: local@domain, the common dot-atom form git and GitHub accept.
email_re='^[A-Za-z0-9._%+-]+@([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,}$'
[[ $email =~ $email_re ]] || die "invalid EMAIL '$email': must look like name@example.com"
[[ $email != .* && $email != *.@* && $email != *..* ]] ||
	die "invalid EMAIL '$email': dots may not start or end the name or repeat"

out="$outdir/$name/values.yaml"
if [ -e "$out" ] && [ "$force" != yes ]; then
	echo "provision-user: $out already exists; use --force to overwrite" >&2
	exit 1
fi
[ -r "$template" ] || { echo "provision-user: template $template not found" >&2; exit 1; }

# YAML double-quoted strings: escape backslash and double quote.
yaml_quote() {
	local s=${1//\\/\\\\}
	printf '%s' "${s//\"/\\\"}"
}

# Literal replacement: bash 5.2 would otherwise expand '&' in a replacement.
shopt -u patsub_replacement 2>/dev/null || true
content=$(<"$template")
content=${content//__USER__/"$name"}
content=${content//__DOMAIN__/"$domain"}
content=${content//__GITHUB_USER__/"$github"}
content=${content//__FULL_NAME__/"$(yaml_quote "$fullname")"}
content=${content//__EMAIL__/"$email"}

mkdir -p "$outdir/$name"
tmp=$(mktemp "$outdir/$name/.values.XXXXXX")
printf '%s\n' "$content" >"$tmp"
mv "$tmp" "$out"

echo "provision-user: wrote $out (host $host, GitHub: $github)"
cat <<EOF
Next:
  1. Optional secrets (gitignored), picked up by make deploy-$name:
       secrets/$name/claude.yaml       claude.apiKey
       secrets/$name/github-app.yaml   github.app.{appId,installationId,privateKey}
       secrets/$name/oauth2.yaml       oauth2.{clientID,clientSecret,cookieSecret}
  2. Point DNS for $host at the ingress controller.
  3. make deploy-$name
EOF
