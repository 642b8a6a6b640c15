# /etc/profile.d/kube-coder-git.sh: give git the identity from the user's
# values (user.env GIT_USER_NAME / GIT_USER_EMAIL) the first time a login
# shell starts, without overriding what the person set since (for example
# from the dashboard's GitHub panel). Sourced by sh and bash login shells.
if command -v git >/dev/null 2>&1; then
	if [ -n "${GIT_USER_NAME:-}" ] && ! git config --global user.name >/dev/null 2>&1; then
		git config --global user.name "$GIT_USER_NAME"
	fi
	if [ -n "${GIT_USER_EMAIL:-}" ] && ! git config --global user.email >/dev/null 2>&1; then
		git config --global user.email "$GIT_USER_EMAIL"
	fi
fi
